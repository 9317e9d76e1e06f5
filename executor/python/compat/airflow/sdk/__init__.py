"""Airflow 3's task SDK (``airflow.sdk``, apache-airflow-task-sdk 1.1): the DAG-authoring
names of Airflow 3 (``DAG``, ``dag``, ``task``, ``task_group``, ``TaskGroup``,
``BaseOperator``, ``BaseSensorOperator``, ``Asset``, ``Param``, ``Variable``,
``Connection``, ``chain``, ``Label``, ``get_current_context``, ``PokeReturnValue``, ...),
the same objects as lithoflow's Airflow 2 names. A file that imports ``airflow.sdk`` gets
Airflow 3's defaults (the loader decides that from the file's text)."""

__version__ = "1.1.8"

__lazy_imports = {
    "Asset": "airflow.datasets",
    "AssetAlias": "airflow.datasets",
    "AssetAll": "airflow.datasets",
    "AssetAny": "airflow.datasets",
    "AssetWatcher": "airflow.sdk.definitions.asset",
    "BaseHook": "airflow.hooks.base",
    "BaseNotifier": "airflow.sdk.bases.notifier",
    "BaseOperator": "airflow.models.baseoperator",
    "BaseOperatorLink": "airflow.models.baseoperator",
    "BaseSensorOperator": "airflow.sensors.base",
    "Connection": "airflow.models.connection",
    "Context": "airflow.utils.context",
    "DAG": "airflow.models.dag",
    "DagRunState": "airflow.utils.state",
    "EdgeModifier": "airflow.utils.edgemodifier",
    "Label": "airflow.utils.edgemodifier",
    "Metadata": "airflow.datasets.metadata",
    "ObjectStoragePath": "airflow.sdk.io.path",
    "Param": "airflow.models.param",
    "ParamsDict": "airflow.models.param",
    "PokeReturnValue": "airflow.sensors.base",
    "TaskGroup": "airflow.utils.task_group",
    "TaskInstanceState": "airflow.utils.state",
    "TriggerRule": "airflow.utils.trigger_rule",
    "Variable": "airflow.models.variable",
    "WeightRule": "airflow.utils.weight_rule",
    "XComArg": "airflow.models.xcom_arg",
    "asset": "airflow.sdk.definitions.asset.decorators",
    "chain": "airflow.models.baseoperator",
    "chain_linear": "airflow.models.baseoperator",
    "cross_downstream": "airflow.models.baseoperator",
    "dag": "airflow.models.dag",
    "get_current_context": "airflow.utils.context",
    "get_parsing_context": "airflow.utils.context",
    "literal": "airflow.sdk.definitions.template",
    "setup": "airflow.decorators",
    "task": "airflow.decorators",
    "task_group": "airflow.decorators",
    "teardown": "airflow.decorators",
}

__all__ = ["__version__", *__lazy_imports]


def __getattr__(name):
    import importlib

    module_path = __lazy_imports.get(name)
    if module_path:
        val = getattr(importlib.import_module(module_path), name)
        globals()[name] = val
        return val
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
