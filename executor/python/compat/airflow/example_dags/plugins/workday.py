"""``AfterWorkdayTimetable`` of Airflow's example DAGs: a custom timetable (one run per
workday). lithoflow loads it as a timetable it does not implement (``_lithoflow_kind``
``"custom"``)."""

from airflow.plugins_manager import AirflowPlugin
from airflow.timetables.base import Timetable


class AfterWorkdayTimetable(Timetable):
    description = "After each workday"


class WorkdayTimetablePlugin(AirflowPlugin):
    name = "workday_timetable_plugin"
    timetables = [AfterWorkdayTimetable]
