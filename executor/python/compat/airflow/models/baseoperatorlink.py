"""Airflow's ``airflow.models.baseoperatorlink``."""

from airflow.models.baseoperator import BaseOperatorLink  # noqa: F401
