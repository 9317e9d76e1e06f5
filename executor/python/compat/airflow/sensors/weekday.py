"""Airflow's ``DayOfWeekSensor`` (loaded; running it fails in lithoflow)."""

from airflow.sensors.base import BaseSensorOperator


class DayOfWeekSensor(BaseSensorOperator):
    _lithoflow_base_kind = "unsupported"
    _lithoflow_unsupported = True

    def __init__(self, *, week_day, use_task_logical_date=False, use_task_execution_day=False, **kwargs):
        super().__init__(**kwargs)
        self.week_day = week_day
        self.use_task_logical_date = use_task_logical_date or use_task_execution_day
