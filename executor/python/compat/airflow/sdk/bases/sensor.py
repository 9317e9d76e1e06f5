"""Airflow 3's ``airflow.sdk.bases.sensor``."""

from airflow.sensors.base import BaseSensorOperator, PokeReturnValue, poke_mode_only  # noqa: F401
