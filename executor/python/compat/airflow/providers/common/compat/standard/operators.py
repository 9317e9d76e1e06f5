"""``airflow.providers.common.compat.standard.operators``."""

from airflow.operators.python import PythonOperator, ShortCircuitOperator, get_current_context  # noqa: F401
from airflow.decorators.python import _PythonDecoratedOperator  # noqa: F401
