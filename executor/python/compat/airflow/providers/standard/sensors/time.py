"""Airflow 3's ``airflow.providers.standard.sensors.time``."""

from airflow.sensors.time_sensor import *  # noqa: F401,F403
from airflow.sensors.time_sensor import TimeSensor, TimeSensorAsync  # noqa: F401
