"""Airflow 3's ``airflow.providers.standard.sensors.bash``."""

from airflow.sensors.bash import *  # noqa: F401,F403
from airflow.sensors.bash import BashSensor  # noqa: F401
