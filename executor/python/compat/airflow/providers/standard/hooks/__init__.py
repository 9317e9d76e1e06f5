"""``airflow.providers.standard.hooks``."""
