"""Helpers shared by lithoflow's implementation of Airflow's DAG-authoring API.

Nothing here is Airflow API; Airflow's own names live in the modules of the same name as
Airflow's (``airflow.utils.helpers.validate_key`` re-exports ``validate_key``...).
"""

import os
import re
import sys

# The folder of this ``airflow`` package: frames inside it are never "the user's line".
PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_PACKAGE_PREFIX = PACKAGE_DIR + os.sep


class ArgNotSet:
    """Airflow's ``airflow.utils.types.ArgNotSet``: the type of ``NOTSET``."""

    _instance = None

    def __new__(cls):
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self):
        return "NOTSET"

    def __bool__(self):
        return False

    def __copy__(self):
        return self

    def __deepcopy__(self, memo):
        return self

    @staticmethod
    def is_arg_passed(arg=None):
        return not isinstance(arg, ArgNotSet)


NOTSET = ArgNotSet()

# airflow/utils/helpers.py: KEY_REGEX and GROUP_KEY_REGEX.
KEY_REGEX = re.compile(r"^[\w.-]+$")
GROUP_KEY_REGEX = re.compile(r"^[\w-]+$")


def validate_key(k, max_length=250):
    """Airflow 2.10 ``airflow.utils.helpers.validate_key`` (same messages)."""
    from airflow.exceptions import AirflowException

    if not isinstance(k, str):
        raise TypeError(f"The key has to be a string and is {type(k)}:{k}")
    if len(k) > max_length:
        raise AirflowException(f"The key has to be less than {max_length} characters")
    if not KEY_REGEX.match(k):
        raise AirflowException(
            f"The key {k!r} has to be made of alphanumeric characters, dashes, "
            f"dots and underscores exclusively"
        )


def validate_group_key(k, max_length=200):
    """Airflow 2.10 ``airflow.utils.helpers.validate_group_key`` (same messages)."""
    from airflow.exceptions import AirflowException

    if not isinstance(k, str):
        raise TypeError(f"The key has to be a string and is {type(k)}:{k}")
    if len(k) > max_length:
        raise AirflowException(f"The key has to be less than {max_length} characters")
    if not GROUP_KEY_REGEX.match(k):
        raise AirflowException(
            f"The key {k!r} has to be made of alphanumeric characters, dashes and underscores exclusively"
        )


def _in_package(filename):
    return filename.startswith(_PACKAGE_PREFIX)


def caller_line(skip=1):
    """The line of the user's code that is creating an object: the innermost frame in the
    DAG file being loaded (``host.DAG_FILE``), else the innermost frame in the DAGs folder
    (``host.DAGS_FOLDER``), else the innermost frame outside this package. None if none."""
    from airflow._lithoflow import host

    dag_file = host.DAG_FILE
    folder = host.DAGS_FOLDER
    folder_prefix = (folder.rstrip(os.sep) + os.sep) if folder else None
    in_folder = None
    outside = None
    frame = sys._getframe(skip)
    while frame is not None:
        filename = frame.f_code.co_filename
        if not _in_package(filename):
            if dag_file is not None and filename == dag_file:
                return frame.f_lineno
            if in_folder is None and folder_prefix and filename.startswith(folder_prefix):
                in_folder = frame.f_lineno
            if outside is None:
                outside = frame.f_lineno
                if dag_file is None and folder_prefix is None:
                    return outside
        frame = frame.f_back
    return in_folder if in_folder is not None else outside


def caller_file(skip=1):
    """The file name of the innermost frame outside this package (Airflow's ``fileloc``)."""
    frame = sys._getframe(skip)
    while frame is not None:
        filename = frame.f_code.co_filename
        if not _in_package(filename) and not filename.startswith("<frozen"):
            return filename
        frame = frame.f_back
    return ""
