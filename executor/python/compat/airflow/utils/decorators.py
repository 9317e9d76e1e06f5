"""Airflow's ``airflow.utils.decorators``: ``apply_defaults`` (a no-op since Airflow 2:
``BaseOperator``'s metaclass applies ``default_args`` to every subclass)."""


def apply_defaults(func):
    """Airflow 1.10's decorator; BaseOperator's metaclass does its work, so it returns
    ``func`` unchanged (as Airflow 2 does, with a deprecation warning)."""
    return func


def remove_task_decorator(python_source, task_decorator_name):
    lines = python_source.splitlines()
    return "\n".join(line for line in lines if not line.strip().startswith(task_decorator_name))


def fixup_decorator_warning_stack(func):
    return func


__all__ = ["apply_defaults", "remove_task_decorator"]
