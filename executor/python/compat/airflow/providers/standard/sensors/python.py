"""Airflow 3's ``airflow.providers.standard.sensors.python``."""

from airflow.sensors.python import *  # noqa: F401,F403
from airflow.sensors.python import PythonSensor  # noqa: F401
