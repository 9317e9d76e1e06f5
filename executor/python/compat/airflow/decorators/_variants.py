"""The ``@task`` variants: ``.branch``, ``.short_circuit``, ``.bash``, ``.sensor``,
``.virtualenv``, ``.external_python``, ``.branch_virtualenv``, ``.branch_external_python``
(airflow/decorators/*.py, 2.10), with Airflow's class names."""

from airflow._lithoflow.core import NOTSET
from airflow.decorators.base import DecoratedOperator, get_unique_task_id, task_decorator_factory
from airflow.operators.bash import BashOperator
from airflow.operators.python import (
    BranchExternalPythonOperator,
    BranchPythonOperator,
    BranchPythonVirtualenvOperator,
    ExternalPythonOperator,
    PythonVirtualenvOperator,
    ShortCircuitOperator,
)
from airflow.sensors.python import PythonSensor


def _kwargs_to_upstream(python_callable, op_args, op_kwargs):
    return {"python_callable": python_callable, "op_args": op_args, "op_kwargs": op_kwargs}


class _BranchPythonDecoratedOperator(DecoratedOperator, BranchPythonOperator):
    template_fields = BranchPythonOperator.template_fields
    template_fields_renderers = BranchPythonOperator.template_fields_renderers
    shallow_copy_attrs = ("python_callable",)
    custom_operator_name = "@task.branch"

    def __init__(self, *, python_callable, op_args, op_kwargs, **kwargs):
        super().__init__(
            kwargs_to_upstream=_kwargs_to_upstream(python_callable, op_args, op_kwargs),
            python_callable=python_callable,
            op_args=op_args,
            op_kwargs=op_kwargs,
            **kwargs,
        )


class _ShortCircuitDecoratedOperator(DecoratedOperator, ShortCircuitOperator):
    template_fields = ShortCircuitOperator.template_fields
    template_fields_renderers = ShortCircuitOperator.template_fields_renderers
    shallow_copy_attrs = ("python_callable",)
    custom_operator_name = "@task.short_circuit"

    def __init__(self, *, python_callable, op_args, op_kwargs, **kwargs):
        super().__init__(
            kwargs_to_upstream=_kwargs_to_upstream(python_callable, op_args, op_kwargs),
            python_callable=python_callable,
            op_args=op_args,
            op_kwargs=op_kwargs,
            **kwargs,
        )


class _PythonVirtualenvDecoratedOperator(DecoratedOperator, PythonVirtualenvOperator):
    template_fields = PythonVirtualenvOperator.template_fields
    template_fields_renderers = PythonVirtualenvOperator.template_fields_renderers
    shallow_copy_attrs = ("python_callable",)
    custom_operator_name = "@task.virtualenv"

    def __init__(self, *, python_callable, op_args, op_kwargs, **kwargs):
        super().__init__(
            kwargs_to_upstream=_kwargs_to_upstream(python_callable, op_args, op_kwargs),
            python_callable=python_callable,
            op_args=op_args,
            op_kwargs=op_kwargs,
            **kwargs,
        )


class _BranchPythonVirtualenvDecoratedOperator(DecoratedOperator, BranchPythonVirtualenvOperator):
    template_fields = BranchPythonVirtualenvOperator.template_fields
    template_fields_renderers = BranchPythonVirtualenvOperator.template_fields_renderers
    shallow_copy_attrs = ("python_callable",)
    custom_operator_name = "@task.branch_virtualenv"

    def __init__(self, *, python_callable, op_args, op_kwargs, **kwargs):
        super().__init__(
            kwargs_to_upstream=_kwargs_to_upstream(python_callable, op_args, op_kwargs),
            python_callable=python_callable,
            op_args=op_args,
            op_kwargs=op_kwargs,
            **kwargs,
        )


class _PythonExternalDecoratedOperator(DecoratedOperator, ExternalPythonOperator):
    template_fields = ExternalPythonOperator.template_fields
    template_fields_renderers = ExternalPythonOperator.template_fields_renderers
    shallow_copy_attrs = ("python_callable",)
    custom_operator_name = "@task.external_python"

    def __init__(self, *, python_callable, op_args, op_kwargs, **kwargs):
        super().__init__(
            kwargs_to_upstream=_kwargs_to_upstream(python_callable, op_args, op_kwargs),
            python_callable=python_callable,
            op_args=op_args,
            op_kwargs=op_kwargs,
            **kwargs,
        )


class _BranchExternalPythonDecoratedOperator(DecoratedOperator, BranchExternalPythonOperator):
    template_fields = BranchExternalPythonOperator.template_fields
    template_fields_renderers = BranchExternalPythonOperator.template_fields_renderers
    shallow_copy_attrs = ("python_callable",)
    custom_operator_name = "@task.branch_external_python"

    def __init__(self, *, python_callable, op_args, op_kwargs, **kwargs):
        super().__init__(
            kwargs_to_upstream=_kwargs_to_upstream(python_callable, op_args, op_kwargs),
            python_callable=python_callable,
            op_args=op_args,
            op_kwargs=op_kwargs,
            **kwargs,
        )


class _BashDecoratedOperator(DecoratedOperator, BashOperator):
    """Wraps a Python callable and uses the callable return value as the Bash command to be executed."""

    template_fields = (*DecoratedOperator.template_fields, *BashOperator.template_fields)
    template_fields_renderers = {**DecoratedOperator.template_fields_renderers, **BashOperator.template_fields_renderers}
    custom_operator_name = "@task.bash"
    overwrite_rtif_after_execution = True
    _lithoflow_base_kind = "taskflow_bash"

    def __init__(self, *, python_callable, op_args=None, op_kwargs=None, **kwargs):
        if kwargs.pop("multiple_outputs", None):
            import warnings

            warnings.warn(
                f"`multiple_outputs=True` is not supported in {self.custom_operator_name} tasks. Ignoring.",
                UserWarning,
                stacklevel=3,
            )
        super().__init__(
            python_callable=python_callable,
            op_args=op_args,
            op_kwargs=op_kwargs,
            bash_command=NOTSET,
            multiple_outputs=False,
            **kwargs,
        )


class DecoratedSensorOperator(PythonSensor):
    """Wraps a Python callable and captures args/kwargs when called for execution (``@task.sensor``)."""

    template_fields = ("op_args", "op_kwargs")
    template_fields_renderers = {"op_args": "py", "op_kwargs": "py"}
    custom_operator_name = "@task.sensor"
    shallow_copy_attrs = ("python_callable",)

    def __init__(self, *, task_id, **kwargs):
        kwargs["task_id"] = get_unique_task_id(task_id, kwargs.get("dag"), kwargs.get("task_group"))
        super().__init__(**kwargs)


def branch_task(python_callable=None, multiple_outputs=None, **kwargs):
    return task_decorator_factory(python_callable=python_callable, multiple_outputs=multiple_outputs,
                                  decorated_operator_class=_BranchPythonDecoratedOperator,
                                  decorator_name="task.branch", **kwargs)


def short_circuit_task(python_callable=None, multiple_outputs=None, **kwargs):
    return task_decorator_factory(python_callable=python_callable, multiple_outputs=multiple_outputs,
                                  decorated_operator_class=_ShortCircuitDecoratedOperator,
                                  decorator_name="task.short_circuit", **kwargs)


def virtualenv_task(python_callable=None, multiple_outputs=None, **kwargs):
    return task_decorator_factory(python_callable=python_callable, multiple_outputs=multiple_outputs,
                                  decorated_operator_class=_PythonVirtualenvDecoratedOperator,
                                  decorator_name="task.virtualenv", **kwargs)


def branch_virtualenv_task(python_callable=None, multiple_outputs=None, **kwargs):
    return task_decorator_factory(python_callable=python_callable, multiple_outputs=multiple_outputs,
                                  decorated_operator_class=_BranchPythonVirtualenvDecoratedOperator,
                                  decorator_name="task.branch_virtualenv", **kwargs)


def external_python_task(python=None, python_callable=None, multiple_outputs=None, **kwargs):
    return task_decorator_factory(python=python, python_callable=python_callable,
                                  multiple_outputs=multiple_outputs,
                                  decorated_operator_class=_PythonExternalDecoratedOperator,
                                  decorator_name="task.external_python", **kwargs)


def branch_external_python_task(python=None, python_callable=None, multiple_outputs=None, **kwargs):
    return task_decorator_factory(python=python, python_callable=python_callable,
                                  multiple_outputs=multiple_outputs,
                                  decorated_operator_class=_BranchExternalPythonDecoratedOperator,
                                  decorator_name="task.branch_external_python", **kwargs)


def bash_task(python_callable=None, **kwargs):
    return task_decorator_factory(python_callable=python_callable, decorated_operator_class=_BashDecoratedOperator,
                                  decorator_name="task.bash", **kwargs)


def sensor_task(python_callable=None, **kwargs):
    return task_decorator_factory(python_callable=python_callable, multiple_outputs=False,
                                  decorated_operator_class=DecoratedSensorOperator,
                                  decorator_name="task.sensor", **kwargs)


def _unsupported_decorator(name):
    """``@task.docker``, ``@task.kubernetes``...: provider decorators lithoflow does not
    implement: the task loads and fails at run time."""
    from airflow._lithoflow.providers import _make_operator_stub

    module = "airflow.providers." + {
        "docker": "docker.decorators.docker",
        "kubernetes": "cncf.kubernetes.decorators.kubernetes",
        "kubernetes_cmd": "cncf.kubernetes.decorators.kubernetes_cmd",
        "pyspark": "apache.spark.decorators.pyspark",
        "snowpark": "snowflake.decorators.snowpark",
        "sql": "common.sql.decorators.sql",
    }.get(name, name)
    class_name = "_" + "".join(part.capitalize() for part in name.split("_")) + "DecoratedOperator"
    stub = _make_operator_stub(class_name, module)

    class _Decorated(DecoratedOperator, stub):
        custom_operator_name = f"@task.{name}"
        _lithoflow_base_kind = "unsupported"
        _lithoflow_unsupported = True

        def __init__(self, *, python_callable, op_args=None, op_kwargs=None, **kwargs):
            super().__init__(python_callable=python_callable, op_args=op_args, op_kwargs=op_kwargs, **kwargs)

    _Decorated.__name__ = class_name
    _Decorated.__qualname__ = class_name
    _Decorated.__module__ = module

    def factory(python_callable=None, multiple_outputs=None, **kwargs):
        return task_decorator_factory(python_callable=python_callable, multiple_outputs=multiple_outputs,
                                      decorated_operator_class=_Decorated, decorator_name=f"task.{name}", **kwargs)

    return factory
