"""Airflow 3's ``airflow.sdk.exceptions``."""

from airflow.exceptions import *  # noqa: F401,F403
from airflow.exceptions import AirflowException


class AirflowRuntimeError(AirflowException):
    pass


class ErrorType:
    pass
