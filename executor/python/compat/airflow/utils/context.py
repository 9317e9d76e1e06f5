"""Airflow's ``Context`` and ``get_current_context`` (airflow/utils/context.py and
airflow/operators/python.py, 2.10; airflow/sdk/definitions/context.py, 3.1). The context
exists while a task runs: lithoflow's worker runtime (the ``lithoflow`` module) holds it."""

import sys

from airflow.exceptions import AirflowException


class Context(dict):
    """The task's context: a dict of Airflow's context keys."""


KNOWN_CONTEXT_KEYS = {
    "conf",
    "conn",
    "dag",
    "dag_run",
    "data_interval_end",
    "data_interval_start",
    "ds",
    "ds_nodash",
    "execution_date",
    "expanded_ti_count",
    "exception",
    "inlets",
    "inlet_events",
    "logical_date",
    "macros",
    "map_index_template",
    "next_ds",
    "next_ds_nodash",
    "next_execution_date",
    "outlets",
    "outlet_events",
    "params",
    "prev_data_interval_start_success",
    "prev_data_interval_end_success",
    "prev_ds",
    "prev_ds_nodash",
    "prev_execution_date",
    "prev_execution_date_success",
    "prev_start_date_success",
    "prev_end_date_success",
    "reason",
    "run_id",
    "task",
    "task_instance",
    "task_instance_key_str",
    "test_mode",
    "templates_dict",
    "ti",
    "tomorrow_ds",
    "tomorrow_ds_nodash",
    "triggering_dataset_events",
    "triggering_asset_events",
    "ts",
    "ts_nodash",
    "ts_nodash_with_tz",
    "try_number",
    "var",
    "yesterday_ds",
    "yesterday_ds_nodash",
}


def get_current_context():
    """Retrieve the execution context dictionary without altering user method's signature."""
    runtime = sys.modules.get("lithoflow")
    if runtime is not None and getattr(runtime, "_call", None) is not None:
        return runtime.get_current_context()
    raise AirflowException(
        "Current context was requested but no context was found! Are you running within an Airflow task?"
    )


def get_parsing_context():
    """Airflow's ``get_parsing_context()``: which DAG/task a worker parses the file for
    (both None while the loader parses the whole file)."""
    from collections import namedtuple

    import os

    AirflowParsingContext = namedtuple("AirflowParsingContext", ["dag_id", "task_id"])
    return AirflowParsingContext(
        dag_id=os.environ.get("_AIRFLOW_PARSING_CONTEXT_DAG_ID"),
        task_id=os.environ.get("_AIRFLOW_PARSING_CONTEXT_TASK_ID"),
    )


def context_merge(context, *args, **kwargs):
    if not context:
        context = Context()
    context.update(*args, **kwargs)


def context_copy_partial(source, keys):
    return Context({k: v for k, v in source.items() if k in keys})
