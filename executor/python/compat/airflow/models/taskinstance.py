"""Airflow's ``TaskInstance`` names DAG files import (type hints, callbacks). Task instances
exist only while a task runs; the worker's context gives them (``context["ti"]``)."""

from collections import namedtuple

TaskInstanceKey = namedtuple("TaskInstanceKey", ["dag_id", "task_id", "run_id", "try_number", "map_index"])


class TaskInstance:
    """Task instances store the state of a task instance (kept for imports and type hints)."""

    def __init__(self, task=None, execution_date=None, run_id=None, state=None, map_index=-1):
        self.task = task
        self.task_id = getattr(task, "task_id", None)
        self.dag_id = getattr(task, "dag_id", None)
        self.run_id = run_id
        self.execution_date = execution_date
        self.state = state
        self.map_index = map_index


class TaskReschedule:
    pass


class Log:
    pass


SimpleTaskInstance = TaskInstance
