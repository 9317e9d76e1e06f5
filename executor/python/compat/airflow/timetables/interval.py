"""Airflow's interval timetables (airflow/timetables/interval.py)."""

import datetime

from airflow.timetables.base import Timetable


class _DataIntervalTimetable(Timetable):
    pass


class CronDataIntervalTimetable(_DataIntervalTimetable):
    """A cron schedule whose runs cover the interval between two fire times (Airflow 2's
    meaning of a cron ``schedule``)."""

    _lithoflow_kind = "cron_data_interval"

    def __init__(self, cron, timezone):
        self._expression = cron
        self._cron = cron
        self._timezone = timezone
        self.description = cron

    @property
    def summary(self):
        return self._expression


class DeltaDataIntervalTimetable(_DataIntervalTimetable):
    """A ``timedelta`` schedule whose runs cover one delta each."""

    _lithoflow_kind = "delta_data_interval"

    def __init__(self, delta):
        self._delta = delta
        self.description = str(delta)

    @property
    def summary(self):
        return str(self._delta)

    def validate(self):
        from airflow.exceptions import AirflowTimetableInvalid

        now = datetime.datetime.now()
        if (now + self._delta) <= now:
            raise AirflowTimetableInvalid(f"schedule interval must be positive, not {self._delta!r}")
