"""Airflow 3's ``airflow.providers.standard.sensors.external_task``."""

from airflow.sensors.external_task import *  # noqa: F401,F403
from airflow.sensors.external_task import ExternalTaskSensor, ExternalTaskMarker, ExternalDagLink  # noqa: F401
