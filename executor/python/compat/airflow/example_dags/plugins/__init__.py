"""``airflow.example_dags.plugins``."""
