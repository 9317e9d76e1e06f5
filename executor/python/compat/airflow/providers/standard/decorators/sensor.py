"""Airflow 3's ``airflow.providers.standard.decorators.sensor``."""

from airflow.decorators._variants import DecoratedSensorOperator, sensor_task  # noqa: F401
