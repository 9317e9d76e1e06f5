"""``airflow.providers.standard.sensors``."""
