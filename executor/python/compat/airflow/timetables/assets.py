"""Airflow 3's ``AssetOrTimeSchedule`` (airflow/timetables/assets.py)."""

from airflow.timetables.datasets import DatasetOrTimeSchedule


class AssetOrTimeSchedule(DatasetOrTimeSchedule):
    def __init__(self, *, timetable, assets):
        super().__init__(timetable=timetable, assets=assets)
