"""Airflow 3's ``airflow.sdk.definitions._internal``."""
