"""Airflow 3's ``airflow.providers.standard.decorators.python``."""

from airflow.decorators.python import _PythonDecoratedOperator, python_task  # noqa: F401
