"""Airflow's ``airflow.io`` (object storage)."""
