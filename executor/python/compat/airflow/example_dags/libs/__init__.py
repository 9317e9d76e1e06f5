"""``airflow.example_dags.libs``."""
