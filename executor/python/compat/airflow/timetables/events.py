"""Airflow's ``EventsTimetable`` (airflow/timetables/events.py)."""

from airflow.timetables.base import Timetable


class EventsTimetable(Timetable):
    """Runs at the given date-times."""

    _lithoflow_kind = "events"

    def __init__(self, event_dates, restrict_to_events=False, presorted=False, description=None):
        self.event_dates = list(event_dates)
        if not presorted:
            self.event_dates.sort()
        self.restrict_to_events = restrict_to_events
        self.description = description or f"{len(self.event_dates)} events"

    @property
    def summary(self):
        return self.description
