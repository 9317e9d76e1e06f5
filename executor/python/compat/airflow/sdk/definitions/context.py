"""Airflow 3's ``airflow.sdk.definitions.context``."""

from airflow.utils.context import Context, get_current_context, get_parsing_context  # noqa: F401
