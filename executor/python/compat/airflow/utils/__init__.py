"""Airflow's ``airflow.utils`` package (the parts DAG files use)."""
