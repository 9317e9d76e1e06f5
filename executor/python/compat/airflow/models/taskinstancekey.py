"""Airflow's ``airflow.models.taskinstancekey``."""

from airflow.models.taskinstance import TaskInstanceKey  # noqa: F401
