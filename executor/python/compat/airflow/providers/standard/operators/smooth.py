"""Airflow 3's ``airflow.providers.standard.operators.smooth``."""

from airflow.operators.smooth import *  # noqa: F401,F403
from airflow.operators.smooth import SmoothOperator  # noqa: F401
