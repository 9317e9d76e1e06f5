"""The Cloudbutton toolkit's plugin (the Lithops plugin's former name):
``from airflow.operators.cloudbutton_airflow_plugin import CloudbuttonMapOperator``."""

from airflow.operators._lithops import (
    LithopsCallAsyncOperator,
    LithopsMapOperator,
    LithopsMapReduceOperator,
    LithopsOperator,
)


class CloudbuttonOperator(LithopsOperator):
    """The Cloudbutton plugin's base operator."""


class CloudbuttonCallAsyncOperator(LithopsCallAsyncOperator):
    pass


class CloudbuttonAsyncOperator(LithopsCallAsyncOperator):
    """The README's name of ``CloudbuttonCallAsyncOperator``."""


class CloudbuttonMapOperator(LithopsMapOperator):
    pass


class CloudbuttonMapReduceOperator(LithopsMapReduceOperator):
    pass


__all__ = [
    "CloudbuttonOperator",
    "CloudbuttonCallAsyncOperator",
    "CloudbuttonAsyncOperator",
    "CloudbuttonMapOperator",
    "CloudbuttonMapReduceOperator",
]
