"""An Airflow DAG file, run by lithoflow unchanged (docs/airflow-dags.md).

lithoflow imports this file with its own implementation of Airflow's DAG-authoring API
and runs the tasks on its workers. Airflow 2 style: classic operators beside TaskFlow,
a task group, a branch with its join, a task mapped over an upstream result, and the
Lithops plugin's map operator over functions from the module next to this file.
"""

from datetime import datetime, timedelta

from airflow import DAG
from airflow.decorators import task, task_group
from airflow.operators.bash import BashOperator
from airflow.operators.empty import EmptyOperator
from airflow.operators.lithops_airflow_plugin import LithopsMapOperator
from airflow.operators.python import BranchPythonOperator

from my_functions import add

default_args = {"retries": 1, "retry_delay": timedelta(seconds=5)}

with DAG(
    dag_id="airflow_example",
    description="an Airflow .py DAG file next to the TOML ones",
    start_date=datetime(2026, 11, 1),
    schedule=None,
    catchup=False,
    is_paused_upon_creation=False,
    default_args=default_args,
    tags=["example", "airflow"],
) as dag:
    hello = BashOperator(task_id="hello", bash_command="echo hello from {{ dag.dag_id }} on {{ ds }}")

    @task
    def make_numbers(n):
        return list(range(1, n + 1))  # [1, 2, 3]

    @task
    def square(x):
        return x * x

    @task_group(group_id="stats")
    def stats(values):
        @task
        def total(xs):
            return sum(xs)  # 1 + 4 + 9 = 14

        @task
        def biggest(xs):
            return max(xs)  # 9

        return [total(values), biggest(values)]

    numbers = make_numbers(3)
    squares = square.expand(x=numbers)  # three mapped instances: 1, 4, 9
    hello >> numbers
    summary = stats(squares)

    # Lithops' map over the same numbers: add(1, y=10), add(2, y=10), add(3, y=10).
    plus_ten = LithopsMapOperator(
        task_id="plus_ten",
        map_function=add,
        iterdata_from_task="make_numbers",
        extra_params={"y": 10},
    )
    numbers >> plus_ten

    def pick(**context):
        total = context["ti"].xcom_pull(task_ids="stats.total")
        return "big" if total > 10 else "small"

    branch = BranchPythonOperator(task_id="branch", python_callable=pick)
    big = EmptyOperator(task_id="big")
    small = EmptyOperator(task_id="small")  # skipped: the total is 14
    done = EmptyOperator(task_id="done", trigger_rule="none_failed_min_one_success")
    summary >> branch >> [big, small] >> done
    plus_ten >> done
