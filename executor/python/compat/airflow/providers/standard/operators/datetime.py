"""Airflow 3's ``airflow.providers.standard.operators.datetime``."""

from airflow.operators.datetime import *  # noqa: F401,F403
from airflow.operators.datetime import BranchDateTimeOperator  # noqa: F401
