"""Airflow's ``airflow.lineage`` (inlets/outlets entities; kept on the tasks)."""
