"""Airflow 3's ``airflow.providers.standard.operators.empty``."""

from airflow.operators.empty import *  # noqa: F401,F403
from airflow.operators.empty import EmptyOperator  # noqa: F401
