"""Airflow's ``trigger_dag`` API function: a DAG file can import it; calling it (from a task)
raises, since lithoflow triggers runs with TriggerDagRunOperator or ``lithoflow dags trigger``."""

from airflow.exceptions import AirflowException


def trigger_dag(dag_id, run_id=None, conf=None, execution_date=None, replace_microseconds=True, **kwargs):
    raise AirflowException(
        "airflow.api.common.trigger_dag is not available in lithoflow: use TriggerDagRunOperator "
        "or `lithoflow dags trigger`"
    )
