"""The Lithops plugin's operators (``lithops_airflow_plugin.operators``)."""

from airflow.operators._lithops import (  # noqa: F401
    LithopsCallAsyncOperator,
    LithopsMapOperator,
    LithopsMapReduceOperator,
    LithopsOperator,
)
