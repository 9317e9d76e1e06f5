"""Airflow's ``EmptyOperator`` (airflow/operators/empty.py)."""

from airflow.models.baseoperator import BaseOperator


class EmptyOperator(BaseOperator):
    """Operator that does literally nothing."""

    ui_color = "#e8f7e4"
    inherits_from_empty_operator = True
    _lithoflow_base_kind = "empty"

    def execute(self, context):
        pass


__all__ = ["EmptyOperator"]
