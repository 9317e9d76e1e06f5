"""Airflow's trigger timetables (airflow/timetables/trigger.py)."""

import datetime

from airflow.timetables.base import Timetable


class CronTriggerTimetable(Timetable):
    """Runs at each cron fire time; its data interval is ``interval`` before it (Airflow 3's
    meaning of a cron ``schedule``)."""

    _lithoflow_kind = "cron_trigger"

    def __init__(self, cron, *, timezone, interval=datetime.timedelta(), run_immediately=False):
        self._expression = cron
        self._cron = cron
        self._timezone = timezone
        self._interval = interval
        self._run_immediately = run_immediately
        self.description = cron

    @property
    def summary(self):
        return self._expression


class MultipleCronTriggerTimetable(Timetable):
    """Several cron expressions, one timetable (Airflow 3)."""

    _lithoflow_kind = "multiple_cron_trigger"

    def __init__(self, *crons, timezone, interval=datetime.timedelta(), run_immediately=False):
        if not crons:
            raise ValueError("cron expression required")
        self._timetables = [
            CronTriggerTimetable(cron, timezone=timezone, interval=interval, run_immediately=run_immediately)
            for cron in crons
        ]
        self._crons = list(crons)
        self._timezone = timezone
        self._interval = interval
        self.description = ", ".join(crons)

    @property
    def summary(self):
        return ", ".join(self._crons)


class DeltaTriggerTimetable(Timetable):
    """Runs every ``delta`` (Airflow 3's meaning of a ``timedelta`` schedule with
    ``[scheduler] create_delta_data_intervals = False``)."""

    _lithoflow_kind = "delta_trigger"

    def __init__(self, delta, *, interval=datetime.timedelta()):
        self._delta = delta
        self._interval = interval
        self.description = str(delta)

    @property
    def summary(self):
        return str(self._delta)
