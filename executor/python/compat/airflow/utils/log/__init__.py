"""Airflow's ``airflow.utils.log``."""
