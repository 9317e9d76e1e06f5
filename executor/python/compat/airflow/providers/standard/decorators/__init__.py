"""``airflow.providers.standard.decorators``."""
