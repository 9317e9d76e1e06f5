"""Airflow 3's ``airflow.sdk.bases.hook``."""

from airflow.hooks.base import BaseHook  # noqa: F401
