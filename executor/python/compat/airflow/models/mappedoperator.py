"""Airflow's ``airflow.models.mappedoperator``. In lithoflow a mapped task is an instance
of its operator class whose ``_lithoflow_mapped`` records the mapping, so
``isinstance(task, MappedOperator)`` is true for exactly those tasks."""

from airflow.models.baseoperator import BaseOperator, OperatorPartial, ensure_xcomarg_return_value


class _MappedOperatorMeta(type):
    def __instancecheck__(cls, instance):
        return isinstance(instance, BaseOperator) and bool(instance.__dict__.get("_lithoflow_mapped"))


class MappedOperator(metaclass=_MappedOperatorMeta):
    """Matches (``isinstance``) the tasks made by ``.partial().expand()``."""


__all__ = ["MappedOperator", "OperatorPartial", "ensure_xcomarg_return_value"]
