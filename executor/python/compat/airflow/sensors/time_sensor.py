"""Airflow's ``TimeSensor`` / ``TimeSensorAsync`` (airflow/sensors/time_sensor.py)."""

from airflow.sensors.base import BaseSensorOperator


class TimeSensor(BaseSensorOperator):
    """Waits until the specified time of the day (``target_time``, a ``datetime.time``)."""

    _lithoflow_base_kind = "sensor:time"

    def __init__(self, *, target_time, deferrable=False, start_from_trigger=False, end_from_trigger=False,
                 trigger_kwargs=None, **kwargs):
        super().__init__(**kwargs)
        self.target_time = target_time
        self.deferrable = deferrable
        self.start_from_trigger = start_from_trigger
        self.end_from_trigger = end_from_trigger
        self.trigger_kwargs = trigger_kwargs


class TimeSensorAsync(BaseSensorOperator):
    _lithoflow_base_kind = "sensor:time"

    def __init__(self, *, target_time, start_from_trigger=False, trigger_kwargs=None, end_from_trigger=False,
                 **kwargs):
        super().__init__(**kwargs)
        self.target_time = target_time
        self.start_from_trigger = start_from_trigger
        self.trigger_kwargs = trigger_kwargs
        self.end_from_trigger = end_from_trigger
