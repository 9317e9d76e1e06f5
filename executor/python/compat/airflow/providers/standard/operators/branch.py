"""Airflow 3's ``airflow.providers.standard.operators.branch``."""

from airflow.operators.branch import *  # noqa: F401,F403
from airflow.operators.branch import BaseBranchOperator, BranchMixIn  # noqa: F401
