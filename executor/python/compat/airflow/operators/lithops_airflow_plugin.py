"""The Lithops plugin's operators as Airflow 1.10 exposes a plugin's operators:
``from airflow.operators.lithops_airflow_plugin import LithopsMapOperator``."""

from airflow.operators._lithops import (  # noqa: F401
    LithopsCallAsyncOperator,
    LithopsMapOperator,
    LithopsMapReduceOperator,
    LithopsOperator,
)

__all__ = ["LithopsOperator", "LithopsCallAsyncOperator", "LithopsMapOperator", "LithopsMapReduceOperator"]
