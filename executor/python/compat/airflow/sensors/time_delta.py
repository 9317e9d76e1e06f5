"""Airflow's ``TimeDeltaSensor`` / ``TimeDeltaSensorAsync`` (airflow/sensors/time_delta.py):
wait until ``delta`` after the run's data interval end."""

from airflow.sensors.base import BaseSensorOperator


class TimeDeltaSensor(BaseSensorOperator):
    _lithoflow_base_kind = "sensor:time_delta"

    def __init__(self, *, delta, deferrable=False, end_from_trigger=False, **kwargs):
        import datetime

        super().__init__(**kwargs)
        if isinstance(delta, (int, float)) and not isinstance(delta, bool):
            delta = datetime.timedelta(seconds=delta)
        self.delta = delta
        self.deferrable = deferrable
        self.end_from_trigger = end_from_trigger


class TimeDeltaSensorAsync(TimeDeltaSensor):
    def __init__(self, *, end_from_trigger=False, delta, **kwargs):
        super().__init__(delta=delta, end_from_trigger=end_from_trigger, **kwargs)


class WaitSensor(BaseSensorOperator):
    """Airflow 2.10's ``WaitSensor``: wait ``time_to_wait`` (a time-delta sensor from now)."""

    _lithoflow_base_kind = "sensor:time_delta"

    def __init__(self, *, time_to_wait, deferrable=False, **kwargs):
        import datetime

        super().__init__(**kwargs)
        self.deferrable = deferrable
        if isinstance(time_to_wait, (int, float)):
            time_to_wait = datetime.timedelta(minutes=time_to_wait)
        self.time_to_wait = time_to_wait
        self.delta = time_to_wait
