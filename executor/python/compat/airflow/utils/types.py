"""Airflow's ``airflow.utils.types``: ``NOTSET``, ``ArgNotSet``, ``DagRunType``."""

import enum

from airflow._lithoflow.core import NOTSET, ArgNotSet

__all__ = ["NOTSET", "ArgNotSet", "DagRunType", "DagRunTriggeredByType", "EdgeInfoType"]


class DagRunType(str, enum.Enum):
    BACKFILL_JOB = "backfill"
    SCHEDULED = "scheduled"
    MANUAL = "manual"
    ASSET_TRIGGERED = "asset_triggered"
    DATASET_TRIGGERED = "dataset_triggered"

    def __str__(self):
        return self.value

    def generate_run_id(self, logical_date, suffix=None):
        return f"{self}__{logical_date.isoformat()}"


class DagRunTriggeredByType(enum.Enum):
    CLI = "cli"
    OPERATOR = "operator"
    REST_API = "rest_api"
    UI = "ui"
    TEST = "test"
    TIMETABLE = "timetable"
    ASSET = "asset"
    DATASET = "dataset"
    BACKFILL = "backfill"


EdgeInfoType = dict
