"""Airflow's ``airflow.task``."""
