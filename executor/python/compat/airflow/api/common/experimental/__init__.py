"""Airflow's ``airflow.api.common.experimental``."""
