"""Airflow's ``ExternalTaskSensor`` and ``ExternalTaskMarker`` (airflow/sensors/external_task.py,
2.10), with Airflow's argument checks."""

from airflow.exceptions import AirflowException
from airflow.models.baseoperator import BaseOperatorLink
from airflow.operators.empty import EmptyOperator
from airflow.sensors.base import BaseSensorOperator
from airflow.utils.state import State, TaskInstanceState


class ExternalDagLink(BaseOperatorLink):
    name = "External DAG"


class ExternalTaskSensor(BaseSensorOperator):
    """Waits for a different DAG, task group, or task to complete for a specific logical date."""

    template_fields = ["external_dag_id", "external_task_id", "external_task_ids", "external_task_group_id"]
    ui_color = "#4db7db"
    _lithoflow_base_kind = "sensor:external_task"

    def __init__(
        self,
        *,
        external_dag_id,
        external_task_id=None,
        external_task_ids=None,
        external_task_group_id=None,
        allowed_states=None,
        skipped_states=None,
        failed_states=None,
        execution_delta=None,
        execution_date_fn=None,
        check_existence=False,
        poll_interval=2.0,
        deferrable=False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.allowed_states = list(allowed_states) if allowed_states else [TaskInstanceState.SUCCESS.value]
        self.skipped_states = list(skipped_states) if skipped_states else []
        self.failed_states = list(failed_states) if failed_states else []

        total_states = set(self.allowed_states + self.skipped_states + self.failed_states)
        if len(total_states) != len(self.allowed_states) + len(self.skipped_states) + len(self.failed_states):
            raise AirflowException("Duplicate values provided across allowed_states, skipped_states and failed_states.")

        if not external_task_ids:
            external_task_ids = None
        if external_task_id is not None and external_task_ids is not None:
            raise ValueError(
                "Only one of `external_task_id` or `external_task_ids` may "
                "be provided to ExternalTaskSensor; "
                "use external_task_id or external_task_ids or external_task_group_id."
            )
        if external_task_id is not None:
            external_task_ids = [external_task_id]
        if external_task_group_id is not None and external_task_ids is not None:
            raise ValueError(
                "Only one of `external_task_group_id` or `external_task_ids` may "
                "be provided to ExternalTaskSensor; "
                "use external_task_id or external_task_ids or external_task_group_id."
            )
        if external_task_ids or external_task_group_id:
            if not total_states <= set(State.task_states):
                raise ValueError(
                    "Valid values for `allowed_states`, `skipped_states` and `failed_states` "
                    "when `external_task_id` or `external_task_ids` or `external_task_group_id` "
                    f"is not `None`: {State.task_states}"
                )
        elif not total_states <= set(State.dag_states):
            raise ValueError(
                "Valid values for `allowed_states`, `skipped_states` and `failed_states` "
                f"when `external_task_id` and `external_task_group_id` is `None`: {State.dag_states}"
            )
        if execution_delta is not None and execution_date_fn is not None:
            raise ValueError(
                "Only one of `execution_delta` or `execution_date_fn` may "
                "be provided to ExternalTaskSensor; not both."
            )
        self.execution_delta = execution_delta
        self.execution_date_fn = execution_date_fn
        self.external_dag_id = external_dag_id
        self.external_task_id = external_task_id
        self.external_task_ids = external_task_ids
        self.external_task_group_id = external_task_group_id
        self.check_existence = check_existence
        self._has_checked_existence = False
        self.deferrable = deferrable
        self.poll_interval = poll_interval


class ExternalTaskMarker(EmptyOperator):
    """Use this operator to indicate that a task on a different DAG depends on this task."""

    template_fields = ["external_dag_id", "external_task_id", "execution_date"]
    ui_color = "#4db7db"
    _lithoflow_base_kind = "empty"

    def __init__(self, *, external_dag_id, external_task_id, execution_date="{{ logical_date.isoformat() }}",
                 recursion_depth=10, logical_date=None, **kwargs):
        super().__init__(**kwargs)
        self.external_dag_id = external_dag_id
        self.external_task_id = external_task_id
        if logical_date is not None:
            execution_date = logical_date
        import datetime

        if isinstance(execution_date, datetime.datetime):
            self.execution_date = execution_date.isoformat()
        elif isinstance(execution_date, str):
            self.execution_date = execution_date
        else:
            raise TypeError(
                f"Expected str or datetime.datetime type for execution_date. Got {type(execution_date)}"
            )
        self.logical_date = self.execution_date
        if recursion_depth <= 0:
            raise ValueError("recursion_depth should be a positive integer")
        self.recursion_depth = recursion_depth


class ExternalTaskSensorLink(ExternalDagLink):
    pass
