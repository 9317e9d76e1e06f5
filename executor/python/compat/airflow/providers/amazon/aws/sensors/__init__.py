"""``airflow.providers.amazon.aws.sensors``: lithoflow implements the S3 key sensor; every other module of the Amazon provider is a stub."""
