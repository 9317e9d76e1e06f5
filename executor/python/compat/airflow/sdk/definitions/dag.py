"""Airflow 3's ``airflow.sdk.definitions.dag``."""

from airflow.models.dag import DAG, DagContext, dag  # noqa: F401
