"""Airflow's ``airflow.models`` (``from airflow.models import DAG, BaseOperator, Variable,
Connection, Param, TaskInstance, DagRun, XCom, Pool, ...``), imported lazily as Airflow does."""

_LAZY = {
    "DAG": "airflow.models.dag",
    "DagModel": "airflow.models.dag",
    "DagTag": "airflow.models.dag",
    "BaseOperator": "airflow.models.baseoperator",
    "BaseOperatorLink": "airflow.models.baseoperator",
    "Operator": "airflow.models.operator",
    "MappedOperator": "airflow.models.mappedoperator",
    "Variable": "airflow.models.variable",
    "Connection": "airflow.models.connection",
    "Param": "airflow.models.param",
    "TaskInstance": "airflow.models.taskinstance",
    "TaskInstanceKey": "airflow.models.taskinstance",
    "DagRun": "airflow.models.dagrun",
    "XCom": "airflow.models.xcom",
    "XComArg": "airflow.models.xcom_arg",
    "Pool": "airflow.models.pool",
    "DagBag": "airflow.models.dagbag",
    "SkipMixin": "airflow.models.skipmixin",
    "TaskReschedule": "airflow.models.taskinstance",
    "Log": "airflow.models.taskinstance",
    "ID_LEN": "airflow.models.base",
    "Base": "airflow.models.base",
}

__all__ = list(_LAZY)


def __getattr__(name):
    import importlib

    path = _LAZY.get(name)
    if not path:
        if not name.startswith("__"):
            try:
                module = importlib.import_module(f"{__name__}.{name}")
            except ModuleNotFoundError as e:
                if e.name != f"{__name__}.{name}":
                    raise
            else:
                globals()[name] = module
                return module
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

    val = getattr(importlib.import_module(path), name)
    globals()[name] = val
    return val
