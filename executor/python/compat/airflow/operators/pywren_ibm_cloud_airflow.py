"""The IBM PyWren plugin (the Lithops plugin's first form):
``from airflow.operators.pywren_ibm_cloud_airflow import IBMPyWrenMapOperator``; its operators
are lithoflow's call_async, map and map_reduce (``pywren_executor_config`` is the config)."""

from airflow.operators._lithops import (
    LithopsCallAsyncOperator,
    LithopsMapOperator,
    LithopsMapReduceOperator,
    LithopsOperator,
)


class IBMPyWrenOperator(LithopsOperator):
    pass


class IBMPyWrenCallAsyncOperator(LithopsCallAsyncOperator):
    pass


class IBMPyWrenMapOperator(LithopsMapOperator):
    pass


class IBMPyWrenMapReduceOperator(LithopsMapReduceOperator):
    pass


__all__ = ["IBMPyWrenOperator", "IBMPyWrenCallAsyncOperator", "IBMPyWrenMapOperator", "IBMPyWrenMapReduceOperator"]
