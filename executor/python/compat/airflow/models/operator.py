"""Airflow's ``airflow.models.operator``: ``Operator`` (BaseOperator or MappedOperator)."""

from airflow.models.baseoperator import BaseOperator
from airflow.models.mappedoperator import MappedOperator

Operator = BaseOperator


def needs_expansion(task):
    return bool(task.__dict__.get("_lithoflow_mapped"))


__all__ = ["Operator", "BaseOperator", "MappedOperator", "needs_expansion"]
