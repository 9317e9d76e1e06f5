"""Airflow 2's ``SubDagOperator`` (loaded; running it fails: lithoflow has no subdags). The
subdag is kept (``.subdag``) and listed by the parent's ``dag.subdags``, as Airflow 2.10's
DagBag bags subdags beside their parent."""

import enum

from airflow.exceptions import AirflowException
from airflow.operators._unsupported import UnsupportedOperator


class SkippedStatePropagationOptions(enum.Enum):
    ALL_LEAVES = "all_leaves"
    ANY_LEAF = "any_leaf"


class SubDagOperator(UnsupportedOperator):
    ui_color = "#555"
    ui_fgcolor = "#fff"

    def __init__(self, *, subdag, session=None, conf=None, propagate_skipped_state=None, **kwargs):
        super().__init__(**kwargs)
        self.subdag = subdag
        self.conf = conf
        self.propagate_skipped_state = propagate_skipped_state
        dag = self.__dict__.get("_dag")
        if dag is not None and not subdag.dag_id.startswith(dag.dag_id + "."):
            raise AirflowException(
                f"The subdag's dag_id should have the form '{{parent_dag_id}}.{{this_task_id}}'. "
                f"Expected '{dag.dag_id}.{kwargs.get('task_id')}'; received '{subdag.dag_id}'."
            )
        subdag.parent_dag = dag
        subdag.is_subdag = True
