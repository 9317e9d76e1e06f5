"""Airflow 1.10/2's ``airflow.api.common.experimental.trigger_dag``."""

from airflow.api.common.trigger_dag import trigger_dag  # noqa: F401
