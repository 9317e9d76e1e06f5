"""Airflow's provider packages: ``standard`` (Airflow 3's operators and sensors) and the S3
key sensor are lithoflow's own; every other known provider is a stub package
(``airflow._lithoflow.providers``)."""
