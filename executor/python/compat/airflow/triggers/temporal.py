"""Airflow's temporal triggers (constructible; lithoflow's engine does the waiting)."""

from airflow.triggers.base import BaseTrigger


class DateTimeTrigger(BaseTrigger):
    def __init__(self, moment, *, end_from_trigger=False):
        super().__init__()
        self.moment = moment
        self.end_from_trigger = end_from_trigger

    def serialize(self):
        return ("airflow.triggers.temporal.DateTimeTrigger", {"moment": self.moment})


class TimeDeltaTrigger(DateTimeTrigger):
    def __init__(self, delta, *, end_from_trigger=False):
        import datetime

        super().__init__(moment=datetime.datetime.now(datetime.timezone.utc) + delta,
                         end_from_trigger=end_from_trigger)
        self.delta = delta
