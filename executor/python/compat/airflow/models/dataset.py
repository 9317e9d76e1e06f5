"""Airflow 2's ``airflow.models.dataset`` (its ORM models; DAG files import ``Dataset`` from it)."""

from airflow.datasets import Dataset, DatasetAlias  # noqa: F401


class DatasetModel:
    def __init__(self, uri=None, extra=None, **kwargs):
        self.uri = uri
        self.extra = extra or {}


class DatasetEvent:
    def __init__(self, **kwargs):
        self.__dict__.update(kwargs)


class DatasetAliasModel:
    def __init__(self, name=None, **kwargs):
        self.name = name
