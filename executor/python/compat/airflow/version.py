"""Airflow's ``airflow.version``: the Airflow version lithoflow implements."""

version = "2.10.5"
git_version = ""
