"""Airflow 3's ``airflow.sdk.definitions.param``."""

from airflow.models.param import DagParam, Param, ParamsDict  # noqa: F401
