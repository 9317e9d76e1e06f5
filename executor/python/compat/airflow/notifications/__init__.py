"""Airflow's ``airflow.notifications``."""
