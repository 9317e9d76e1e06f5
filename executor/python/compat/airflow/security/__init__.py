"""Airflow's ``airflow.security``."""
