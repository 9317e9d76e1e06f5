"""Airflow 3's ``airflow.sdk.io.path``."""

from airflow.io.path import ObjectStoragePath  # noqa: F401
