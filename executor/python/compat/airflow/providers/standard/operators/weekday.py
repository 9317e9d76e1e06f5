"""Airflow 3's ``airflow.providers.standard.operators.weekday``."""

from airflow.operators.weekday import *  # noqa: F401,F403
from airflow.operators.weekday import BranchDayOfWeekOperator  # noqa: F401
