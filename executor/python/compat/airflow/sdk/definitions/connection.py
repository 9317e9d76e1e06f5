"""Airflow 3's ``airflow.sdk.definitions.connection``."""

from airflow.models.connection import Connection  # noqa: F401
