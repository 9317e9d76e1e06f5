"""Airflow 3's ``airflow.sdk.definitions.decorators.task_group``."""

from airflow.decorators.task_group import task_group  # noqa: F401
