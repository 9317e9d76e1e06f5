"""``airflow.providers.common.compat.sdk``: Airflow's authoring names whatever the version
(the objects are lithoflow's)."""

import importlib

_NAMES = {
    "Context": "airflow.utils.context",
    "context_merge": "airflow.utils.context",
    "get_current_context": "airflow.utils.context",
    "timezone": "airflow.utils.timezone:",
    "conf": "airflow.configuration",
    "TaskDecorator": "airflow.decorators.base",
    "task_decorator_factory": "airflow.decorators.base",
    "get_unique_task_id": "airflow.decorators.base",
    "DecoratedOperator": "airflow.decorators.base",
    "BaseOperator": "airflow.models.baseoperator",
    "BaseOperatorLink": "airflow.models.baseoperator",
    "chain": "airflow.models.baseoperator",
    "chain_linear": "airflow.models.baseoperator",
    "cross_downstream": "airflow.models.baseoperator",
    "BaseSensorOperator": "airflow.sensors.base",
    "PokeReturnValue": "airflow.sensors.base",
    "BaseHook": "airflow.hooks.base",
    "BaseBranchOperator": "airflow.operators.branch",
    "BranchMixIn": "airflow.operators.branch",
    "SkipMixin": "airflow.models.skipmixin",
    "TriggerRule": "airflow.utils.trigger_rule",
    "WeightRule": "airflow.utils.weight_rule",
    "TaskInstanceKey": "airflow.models.taskinstance",
    "MappedOperator": "airflow.models.mappedoperator",
    "DAG": "airflow.models.dag",
    "dag": "airflow.models.dag",
    "task": "airflow.decorators",
    "task_group": "airflow.decorators",
    "TaskGroup": "airflow.utils.task_group",
    "Param": "airflow.models.param",
    "ParamsDict": "airflow.models.param",
    "Variable": "airflow.models.variable",
    "Connection": "airflow.models.connection",
    "XComArg": "airflow.models.xcom_arg",
    "Asset": "airflow.datasets",
    "AssetAlias": "airflow.datasets",
    "AssetAll": "airflow.datasets",
    "AssetAny": "airflow.datasets",
    "Label": "airflow.utils.edgemodifier",
    "DagRunState": "airflow.utils.state",
    "TaskInstanceState": "airflow.utils.state",
    "ObjectStoragePath": "airflow.io.path",
    "BaseNotifier": "airflow.sdk.bases.notifier",
}
_EXCEPTIONS = "airflow.exceptions"


def __getattr__(name):
    if name.startswith("__"):
        raise AttributeError(name)
    path = _NAMES.get(name)
    if path is None:
        exceptions = importlib.import_module(_EXCEPTIONS)
        if hasattr(exceptions, name):
            return getattr(exceptions, name)
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    if path.endswith(":"):
        value = importlib.import_module(path[:-1])
    else:
        value = getattr(importlib.import_module(path), name)
    globals()[name] = value
    return value
