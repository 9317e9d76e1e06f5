"""Airflow 3's ``airflow.providers.standard.sensors.time_delta``."""

from airflow.sensors.time_delta import *  # noqa: F401,F403
from airflow.sensors.time_delta import TimeDeltaSensor, TimeDeltaSensorAsync, WaitSensor  # noqa: F401
