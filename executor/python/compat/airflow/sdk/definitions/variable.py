"""Airflow 3's ``airflow.sdk.definitions.variable``."""

from airflow.models.variable import Variable  # noqa: F401
