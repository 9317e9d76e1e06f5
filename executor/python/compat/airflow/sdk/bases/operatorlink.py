"""Airflow 3's ``airflow.sdk.bases.operatorlink``."""

from airflow.models.baseoperator import BaseOperatorLink  # noqa: F401
