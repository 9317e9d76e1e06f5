"""Airflow 3's ``airflow.providers.standard.operators.python``."""

from airflow.operators.python import *  # noqa: F401,F403
from airflow.operators.python import PythonOperator, BranchPythonOperator, ShortCircuitOperator, PythonVirtualenvOperator, BranchPythonVirtualenvOperator, ExternalPythonOperator, BranchExternalPythonOperator, get_current_context, is_venv_installed  # noqa: F401
