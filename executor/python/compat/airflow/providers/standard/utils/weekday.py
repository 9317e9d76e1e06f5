"""Airflow 3's ``airflow.providers.standard.utils.weekday``."""

from airflow.utils.weekday import WeekDay  # noqa: F401
