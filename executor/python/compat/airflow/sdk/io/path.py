"""Airflow's ``ObjectStoragePath`` needs fsspec, which lithoflow does not ship: using one
raises an error that says so (importing the name works)."""

from airflow.exceptions import AirflowException


class ObjectStoragePath:
    def __init__(self, *args, **kwargs):
        raise AirflowException(
            "ObjectStoragePath is not available in lithoflow (it needs fsspec and Airflow's object "
            "storage providers); keep this DAG on Airflow or use the storage's own client"
        )
