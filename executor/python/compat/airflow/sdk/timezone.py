"""Airflow 3's ``airflow.sdk.timezone``."""

from airflow.utils.timezone import *  # noqa: F401,F403
