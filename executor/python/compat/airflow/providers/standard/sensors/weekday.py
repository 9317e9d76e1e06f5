"""Airflow 3's ``airflow.providers.standard.sensors.weekday``."""

from airflow.sensors.weekday import *  # noqa: F401,F403
from airflow.sensors.weekday import DayOfWeekSensor  # noqa: F401
