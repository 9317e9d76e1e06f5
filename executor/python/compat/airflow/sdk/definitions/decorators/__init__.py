"""Airflow 3's ``airflow.sdk.definitions.decorators``."""

from airflow.decorators import TaskDecoratorCollection, setup, task, teardown  # noqa: F401
from airflow.decorators.task_group import task_group  # noqa: F401
