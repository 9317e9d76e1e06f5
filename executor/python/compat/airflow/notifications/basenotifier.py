"""Airflow's ``BaseNotifier`` (airflow/notifications/basenotifier.py)."""

from airflow.sdk.bases.notifier import BaseNotifier  # noqa: F401
