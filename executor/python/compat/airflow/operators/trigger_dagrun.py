"""Airflow's ``TriggerDagRunOperator`` (airflow/operators/trigger_dagrun.py, 2.10;
airflow/providers/standard/operators/trigger_dagrun.py, 3.1)."""

import datetime

from airflow.models.baseoperator import BaseOperator, BaseOperatorLink
from airflow.utils.state import DagRunState

XCOM_LOGICAL_DATE_ISO = "trigger_logical_date_iso"
XCOM_RUN_ID = "trigger_run_id"


class TriggerDagRunLink(BaseOperatorLink):
    name = "Triggered DAG"


class TriggerDagRunOperator(BaseOperator):
    """Triggers a DAG run for a specified DAG ID."""

    template_fields = (
        "trigger_dag_id",
        "trigger_run_id",
        "logical_date",
        "conf",
        "wait_for_completion",
        "skip_when_already_exists",
    )
    template_fields_renderers = {"conf": "py"}
    ui_color = "#ffefeb"
    _lithoflow_base_kind = "trigger_dag_run"

    def __init__(
        self,
        *,
        trigger_dag_id,
        trigger_run_id=None,
        conf=None,
        logical_date=None,
        reset_dag_run=False,
        wait_for_completion=False,
        poke_interval=60,
        allowed_states=None,
        failed_states=None,
        skip_when_already_exists=False,
        deferrable=False,
        execution_date=None,
        fail_when_dag_is_paused=False,
        openlineage_inject_parent_info=True,
        python_callable=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        # Airflow 1.10's python_callable(context, dag_run_obj) (removed in Airflow 2): kept
        # so a 1.10 file loads; the description reports it.
        self.python_callable = python_callable
        self.trigger_dag_id = trigger_dag_id
        self.trigger_run_id = trigger_run_id
        self.conf = conf
        self.reset_dag_run = reset_dag_run
        self.wait_for_completion = wait_for_completion
        self.poke_interval = poke_interval
        if allowed_states:
            self.allowed_states = [DagRunState(s) for s in allowed_states]
        else:
            self.allowed_states = [DagRunState.SUCCESS]
        if failed_states or failed_states == []:
            self.failed_states = [DagRunState(s) for s in failed_states]
        else:
            self.failed_states = [DagRunState.FAILED]
        self.skip_when_already_exists = skip_when_already_exists
        self.fail_when_dag_is_paused = fail_when_dag_is_paused
        self._defer = deferrable
        self.deferrable = deferrable
        if execution_date is not None:
            logical_date = execution_date
        if logical_date is not None and not isinstance(logical_date, (str, datetime.datetime)):
            type_name = type(logical_date).__name__
            raise TypeError(
                f"Expected str or datetime.datetime type for parameter 'logical_date'. Got {type_name}"
            )
        self.logical_date = logical_date
        self.execution_date = logical_date


__all__ = ["TriggerDagRunOperator", "TriggerDagRunLink"]
