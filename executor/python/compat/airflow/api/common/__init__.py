"""Airflow's ``airflow.api.common``."""
