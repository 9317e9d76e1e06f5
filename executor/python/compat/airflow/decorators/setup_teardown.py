"""Airflow's ``@setup`` / ``@teardown`` (airflow/decorators/setup_teardown.py)."""

import types

from airflow.decorators.base import _TaskDecorator
from airflow.exceptions import AirflowException


def setup_task(func):
    # Using FunctionType here since _TaskDecorator is also a callable
    if isinstance(func, types.FunctionType):
        from airflow.decorators import task

        func = task(func)
    if not isinstance(func, _TaskDecorator):
        raise AirflowException("Only @task decorated functions or operators are supported as setup tasks")
    func.is_setup = True
    return func


def teardown_task(_func=None, *, on_failure_fail_dagrun=False):
    def teardown(func):
        if isinstance(func, types.FunctionType):
            from airflow.decorators import task

            func = task(func)
        if not isinstance(func, _TaskDecorator):
            raise AirflowException("Only @task decorated functions or operators are supported as teardown tasks")
        func.is_teardown = True
        func.on_failure_fail_dagrun = on_failure_fail_dagrun
        return func

    if _func is None:
        return teardown
    return teardown(_func)
