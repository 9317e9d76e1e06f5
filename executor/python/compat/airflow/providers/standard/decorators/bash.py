"""Airflow 3's ``airflow.providers.standard.decorators.bash``."""

from airflow.decorators._variants import _BashDecoratedOperator, bash_task  # noqa: F401
