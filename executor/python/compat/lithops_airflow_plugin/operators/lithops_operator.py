"""``lithops_airflow_plugin.operators.lithops_operator``: the plugin's operator module."""

from airflow.operators._lithops import (  # noqa: F401
    LithopsCallAsyncOperator,
    LithopsMapOperator,
    LithopsMapReduceOperator,
    LithopsOperator,
)

__all__ = ["LithopsOperator", "LithopsCallAsyncOperator", "LithopsMapOperator", "LithopsMapReduceOperator"]
