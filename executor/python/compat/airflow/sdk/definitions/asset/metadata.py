"""Airflow 3's ``Metadata``."""

from airflow.datasets.metadata import Metadata  # noqa: F401
