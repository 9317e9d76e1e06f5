"""The Lithops plugin's hooks (``lithops_airflow_plugin.hooks``)."""
