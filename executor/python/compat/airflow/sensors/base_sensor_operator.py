"""Airflow 1.10's ``airflow.sensors.base_sensor_operator`` (deprecated name)."""

from airflow.sensors.base import BaseSensorOperator, PokeReturnValue, poke_mode_only  # noqa: F401
