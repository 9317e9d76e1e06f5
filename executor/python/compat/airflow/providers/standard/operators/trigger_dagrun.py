"""Airflow 3's ``airflow.providers.standard.operators.trigger_dagrun``."""

from airflow.operators.trigger_dagrun import *  # noqa: F401,F403
from airflow.operators.trigger_dagrun import TriggerDagRunOperator, TriggerDagRunLink  # noqa: F401
