"""``airflow.example_dags.subdags``."""
