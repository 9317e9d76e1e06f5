"""Airflow's ``DateTimeSensor`` / ``DateTimeSensorAsync`` (airflow/sensors/date_time.py)."""

import datetime

from airflow.sensors.base import BaseSensorOperator


class DateTimeSensor(BaseSensorOperator):
    """Waits until the specified datetime (``target_time``, templated; kept as ISO text)."""

    template_fields = ("target_time",)
    _lithoflow_base_kind = "sensor:date_time"

    def __init__(self, *, target_time, **kwargs):
        super().__init__(**kwargs)
        # self.target_time can't be a datetime object as it is a template_field
        if isinstance(target_time, datetime.datetime):
            self.target_time = target_time.isoformat()
        elif isinstance(target_time, str):
            self.target_time = target_time
        else:
            raise TypeError(f"Expected str or datetime.datetime type for target_time. Got {type(target_time)}")


class DateTimeSensorAsync(DateTimeSensor):
    def __init__(self, *, start_from_trigger=False, end_from_trigger=False, trigger_kwargs=None, **kwargs):
        super().__init__(**kwargs)
        self.start_from_trigger = start_from_trigger
        self.end_from_trigger = end_from_trigger
        self.trigger_kwargs = trigger_kwargs
