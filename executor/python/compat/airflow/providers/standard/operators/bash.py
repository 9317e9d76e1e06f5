"""Airflow 3's ``airflow.providers.standard.operators.bash``."""

from airflow.operators.bash import *  # noqa: F401,F403
from airflow.operators.bash import BashOperator  # noqa: F401
