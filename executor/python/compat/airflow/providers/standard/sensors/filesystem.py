"""Airflow 3's ``airflow.providers.standard.sensors.filesystem``."""

from airflow.sensors.filesystem import *  # noqa: F401,F403
from airflow.sensors.filesystem import FileSensor  # noqa: F401
