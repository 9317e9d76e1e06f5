"""Airflow's ``Timetable`` base and ``DataInterval`` (airflow/timetables/base.py)."""

from collections import namedtuple

DataInterval = namedtuple("DataInterval", ["start", "end"])
TimeRestriction = namedtuple("TimeRestriction", ["earliest", "latest", "catchup"])
DagRunInfo = namedtuple("DagRunInfo", ["run_after", "data_interval"])


class Timetable:
    """Protocol that all Timetable classes are expected to implement."""

    description = ""
    periodic = True
    can_be_scheduled = True
    run_ordering = ("data_interval_end", "execution_date")
    active_runs_limit = None
    asset_condition = None
    dataset_condition = None
    # lithoflow: the timetable kind ("cron_data_interval", "cron_trigger", "delta_data_interval",
    # "delta_trigger", "events", "none", "once", "continuous", "asset", "asset_or_time",
    # "multiple_cron_trigger", or "custom" for a user subclass).
    _lithoflow_kind = "custom"

    @property
    def summary(self):
        return type(self).__name__

    def validate(self):
        pass

    def serialize(self):
        return {}

    @classmethod
    def deserialize(cls, data):
        return cls()

    def infer_manual_data_interval(self, *, run_after):
        return DataInterval(run_after, run_after)

    def next_dagrun_info(self, *, last_automated_data_interval, restriction):
        raise NotImplementedError()

    def generate_run_id(self, *, run_type, logical_date, data_interval, **extra):
        return run_type.generate_run_id(logical_date)
