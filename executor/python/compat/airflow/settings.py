"""Airflow's ``airflow.settings`` (the names DAG files read)."""

import os

from airflow._lithoflow import host
from airflow.utils.timezone import utc

TIMEZONE = utc
AIRFLOW_HOME = os.environ.get("AIRFLOW_HOME", os.path.expanduser("~/airflow"))
SQL_ALCHEMY_CONN = None
Session = None
engine = None
LAZY_LOAD_PLUGINS = True
LAZY_LOAD_PROVIDERS = True
CAN_FORK = hasattr(os, "fork")
MASK_SECRETS_IN_LOGS = False


def __getattr__(name):
    if name == "DAGS_FOLDER":
        return host.DAGS_FOLDER or os.path.join(AIRFLOW_HOME, "dags")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def dag_policy(dag):
    pass


def task_policy(task):
    pass


def task_instance_mutation_hook(task_instance):
    pass


def initialize():
    pass
