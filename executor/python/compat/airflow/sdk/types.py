"""Airflow 3's ``airflow.sdk.types``."""

from airflow._lithoflow.core import NOTSET, ArgNotSet  # noqa: F401
from airflow.models.taskinstance import TaskInstance as RuntimeTaskInstanceProtocol  # noqa: F401
