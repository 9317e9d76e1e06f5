"""``airflow.providers.amazon.aws``: lithoflow implements the S3 key sensor; every other module of the Amazon provider is a stub."""
