"""Airflow 3's ``airflow.sdk.definitions.edges``."""

from airflow.utils.edgemodifier import EdgeModifier, Label  # noqa: F401
