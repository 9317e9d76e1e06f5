"""Airflow's simple timetables (airflow/timetables/simple.py)."""

from airflow.timetables.base import Timetable


class NullTimetable(Timetable):
    """Never schedule (``schedule=None``)."""

    can_be_scheduled = False
    description = "Never, external triggers only"
    _lithoflow_kind = "none"

    @property
    def summary(self):
        return "None"


class OnceTimetable(Timetable):
    """``@once``."""

    description = "Once, as soon as possible"
    _lithoflow_kind = "once"

    @property
    def summary(self):
        return "@once"


class ContinuousTimetable(Timetable):
    """``@continuous``."""

    description = "As frequently as possible, but only one run at a time."
    active_runs_limit = 1
    _lithoflow_kind = "continuous"

    @property
    def summary(self):
        return "@continuous"


class AssetTriggeredTimetable(NullTimetable):
    """Scheduled on assets (datasets): ``.asset_condition``."""

    description = "Triggered by assets"
    _lithoflow_kind = "asset"

    def __init__(self, assets=None, *, datasets=None):
        self.asset_condition = assets if assets is not None else datasets
        self.dataset_condition = self.asset_condition

    @property
    def summary(self):
        return "Asset"


class DatasetTriggeredTimetable(AssetTriggeredTimetable):
    """Airflow 2's name of ``AssetTriggeredTimetable``."""

    def __init__(self, datasets=None, *, assets=None):
        super().__init__(datasets if datasets is not None else assets)

    @property
    def summary(self):
        return "Dataset"
