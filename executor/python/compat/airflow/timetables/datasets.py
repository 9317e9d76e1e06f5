"""Airflow 2's ``DatasetOrTimeSchedule`` (airflow/timetables/datasets.py)."""

from airflow.timetables.base import Timetable


class DatasetOrTimeSchedule(Timetable):
    """Runs on a timetable and also whenever the datasets' condition is met."""

    _lithoflow_kind = "asset_or_time"

    def __init__(self, *, timetable, datasets=None, assets=None):
        from airflow.datasets import BaseDataset, DatasetAll

        self.timetable = timetable
        condition = datasets if datasets is not None else assets
        if not isinstance(condition, BaseDataset):
            condition = DatasetAll(*condition)
        self.asset_condition = condition
        self.dataset_condition = condition
        self.description = f"Triggered by datasets or {timetable.description}"

    @property
    def summary(self):
        return self.timetable.summary


AssetOrTimeSchedule = DatasetOrTimeSchedule
