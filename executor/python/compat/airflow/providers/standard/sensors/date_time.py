"""Airflow 3's ``airflow.providers.standard.sensors.date_time``."""

from airflow.sensors.date_time import *  # noqa: F401,F403
from airflow.sensors.date_time import DateTimeSensor, DateTimeSensorAsync  # noqa: F401
