"""Airflow's ``airflow.operators``: the deprecated 1.10 modules (``bash_operator``,
``python_operator``, ``dummy_operator``, ...) as Airflow 2.10 registers them, and 1.10's
``from airflow.operators import BashOperator``."""

from airflow._lithoflow import aliases as _aliases

_aliases.install(__name__)


def __getattr__(name):
    if name.startswith("__"):
        raise AttributeError(name)
    return _aliases.package_getattr(__name__, name, globals())
