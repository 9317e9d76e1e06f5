"""Inputs that must stop by the evaluator's budgets, not hang it."""
from airflow import DAG
from airflow.decorators import task

big = [x for x in range(10**6) for y in range(10**6)]
s = "a" * 10**12
n = 9**9**9


def f(*a, **k):
    return f(*a, **k)


with DAG("hostile", schedule=f()) as dag:
    for i in range(10**9):
        t = task(task_id=f"t{i}")(lambda: i)()
