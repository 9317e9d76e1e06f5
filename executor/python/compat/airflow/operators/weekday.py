"""Airflow's ``BranchDayOfWeekOperator`` (loaded; running it fails in lithoflow)."""

from airflow.operators._unsupported import UnsupportedOperator


class BranchDayOfWeekOperator(UnsupportedOperator):
    pass
