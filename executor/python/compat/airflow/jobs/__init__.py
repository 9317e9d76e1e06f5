"""Airflow's ``airflow.jobs`` (lithoflow has no job table: queries raise when used)."""
