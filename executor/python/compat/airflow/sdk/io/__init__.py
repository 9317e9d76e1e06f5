"""Airflow 3's ``airflow.sdk.io``."""
