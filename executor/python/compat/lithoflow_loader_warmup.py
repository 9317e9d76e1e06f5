"""The DAG the loader builds and describes once in its warm parent before any fork
(lithoflow_loader._warm_dag): the first construction of an operator, a DAG or a
description fills caches (signatures, lazy imports) that every child would otherwise
fill again. Nothing of it stays registered. Not a DAG file of any DAGs folder."""
import datetime
from airflow import DAG
from airflow.operators.bash import BashOperator
from airflow.operators.empty import EmptyOperator
from airflow.operators.python import BranchPythonOperator, PythonOperator
from airflow.decorators import task, task_group
from airflow.utils.task_group import TaskGroup


def _f(x=1, **context):
    return x


with DAG("lithoflow_warm_up", start_date=datetime.datetime(2026, 1, 1), schedule="@daily",
         default_args={"retries": 1, "retry_delay": datetime.timedelta(minutes=1), "owner": "o"},
         catchup=False, tags=["warm"]) as _dag:
    _s = EmptyOperator(task_id="s")
    _b = BashOperator(task_id="b", bash_command="echo 1")
    _p = PythonOperator(task_id="p", python_callable=_f, op_kwargs={"x": 2})
    _br = BranchPythonOperator(task_id="br", python_callable=lambda: "s")
    with TaskGroup("g"):
        _g = PythonOperator(task_id="in_group", python_callable=_f, op_args=[1])

    @task
    def _t(x):
        return x

    @task_group
    def _tg():
        return _t(1)

    _s >> _b >> [_p, _br] >> _g
    _t(_p.output) >> _tg()
    _t.partial().expand(x=[1, 2])
