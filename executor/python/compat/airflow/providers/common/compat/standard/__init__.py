"""``airflow.providers.common.compat.standard``."""
