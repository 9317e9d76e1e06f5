"""Airflow 3's ``airflow.providers.standard.operators.latest_only``."""

from airflow.operators.latest_only import *  # noqa: F401,F403
from airflow.operators.latest_only import LatestOnlyOperator  # noqa: F401
