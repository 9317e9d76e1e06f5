"""Airflow's ``airflow.api``."""
