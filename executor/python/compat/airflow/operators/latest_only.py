"""Airflow's ``LatestOnlyOperator`` (airflow/operators/latest_only.py)."""

from airflow.operators.branch import BaseBranchOperator


class LatestOnlyOperator(BaseBranchOperator):
    """Skip tasks that are not running during the most recent schedule interval."""

    ui_color = "#e9ffdb"
    _lithoflow_base_kind = "latest_only"


__all__ = ["LatestOnlyOperator"]
