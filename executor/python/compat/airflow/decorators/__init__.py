"""Airflow's ``airflow.decorators``: ``task`` (and ``.python``, ``.branch``,
``.short_circuit``, ``.bash``, ``.sensor``, ``.virtualenv``, ``.external_python``,
``.branch_virtualenv``, ``.branch_external_python``, ``.run_if``/``.skip_if``; the provider
ones ``.docker``, ``.kubernetes``, ... load as unsupported tasks), ``dag``, ``task_group``,
``setup``, ``teardown``."""

from airflow.decorators import _variants
from airflow.decorators.base import DecoratedOperator, TaskDecorator, get_unique_task_id  # noqa: F401
from airflow.decorators.python import python_task
from airflow.decorators.setup_teardown import setup_task, teardown_task
from airflow.decorators.task_group import task_group
from airflow.models.dag import dag

_PROVIDER_DECORATORS = ("docker", "kubernetes", "kubernetes_cmd", "pyspark", "snowpark", "sql")


def _condition(condition, skip_message, run):
    from airflow.exceptions import AirflowSkipException

    def decorator(decorated):
        previous = decorated.kwargs.get("pre_execute")

        def pre_execute(context):
            ok = bool(condition(context))
            if ok != run:
                raise AirflowSkipException(skip_message or ("Task was skipped due to condition."))
            if previous is not None:
                previous(context)

        pre_execute._lithoflow_condition = (condition, run)
        return decorated.override(pre_execute=pre_execute)

    return decorator


class TaskDecoratorCollection:
    """Implementation to provide the ``@task`` syntax."""

    python = staticmethod(python_task)
    virtualenv = staticmethod(_variants.virtualenv_task)
    external_python = staticmethod(_variants.external_python_task)
    branch = staticmethod(_variants.branch_task)
    branch_virtualenv = staticmethod(_variants.branch_virtualenv_task)
    branch_external_python = staticmethod(_variants.branch_external_python_task)
    short_circuit = staticmethod(_variants.short_circuit_task)
    sensor = staticmethod(_variants.sensor_task)
    bash = staticmethod(_variants.bash_task)

    __call__ = python  # Alias '@task' to '@task.python'.

    @staticmethod
    def run_if(condition, skip_message=None):
        return _condition(condition, skip_message, True)

    @staticmethod
    def skip_if(condition, skip_message=None):
        return _condition(condition, skip_message, False)

    def __getattr__(self, name):
        """Dynamically get provider-registered task decorators, e.g. ``@task.docker``."""
        if name.startswith("__"):
            raise AttributeError(f"{type(self).__name__} has no attribute {name!r}")
        if name in _PROVIDER_DECORATORS:
            factory = _variants._unsupported_decorator(name)
            setattr(self, name, factory)
            return factory
        raise AttributeError(f"task decorator {name!r} not found")


task = TaskDecoratorCollection()
setup = setup_task
teardown = teardown_task

__all__ = ["dag", "task", "task_group", "setup", "teardown", "TaskDecoratorCollection"]
