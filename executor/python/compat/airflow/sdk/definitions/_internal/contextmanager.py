"""Airflow 3's DAG and TaskGroup context managers."""

from airflow.models.dag import DagContext  # noqa: F401
from airflow.utils.task_group import TaskGroupContext  # noqa: F401
