"""Airflow 2's ``SubDagOperator`` (loaded; running it fails: lithoflow has no subdags)."""

import enum

from airflow.operators._unsupported import UnsupportedOperator


class SkippedStatePropagationOptions(enum.Enum):
    ALL_LEAVES = "all_leaves"
    ANY_LEAF = "any_leaf"


class SubDagOperator(UnsupportedOperator):
    ui_color = "#555"
    ui_fgcolor = "#fff"
