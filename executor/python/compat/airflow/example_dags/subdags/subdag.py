"""``subdag(parent, child, args)`` of Airflow's example DAGs: a DAG ``parent.child`` with
five empty tasks ``child-task-1`` ... ``child-task-5``."""

import datetime

from airflow.models.dag import DAG
from airflow.operators.empty import EmptyOperator


def subdag(parent_dag_name, child_dag_name, args):
    dag_subdag = DAG(
        dag_id=f"{parent_dag_name}.{child_dag_name}",
        default_args=args,
        start_date=datetime.datetime(2021, 1, 1, tzinfo=datetime.timezone.utc),
        catchup=False,
        schedule="@daily",
    )
    for i in range(5):
        EmptyOperator(task_id=f"{child_dag_name}-task-{i + 1}", default_args=args, dag=dag_subdag)
    return dag_subdag
