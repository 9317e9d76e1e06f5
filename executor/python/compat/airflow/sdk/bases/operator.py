"""Airflow 3's ``airflow.sdk.bases.operator``."""

from airflow.models.baseoperator import (  # noqa: F401
    BaseOperator,
    BaseOperatorMeta,
    chain,
    chain_linear,
    cross_downstream,
)
