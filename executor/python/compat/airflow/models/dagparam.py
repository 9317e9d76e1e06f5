"""Airflow's ``airflow.models.dagparam``."""

from airflow.models.param import DagParam  # noqa: F401
