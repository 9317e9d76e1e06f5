"""Airflow 3's ``airflow.sdk.definitions.taskgroup``."""

from airflow.utils.task_group import MappedTaskGroup, TaskGroup, TaskGroupContext  # noqa: F401
