"""Airflow's ``airflow.triggers`` (deferrable operators' triggers: constructible, never run)."""
