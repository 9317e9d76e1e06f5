"""Deprecated module paths as Airflow 2.10 registers them (``add_deprecated_classes``), plus
Airflow 1.10's package-level imports (``from airflow.operators import BashOperator``)."""

import importlib
import sys
import types

from airflow._lithoflow import deprecated

_TABLE = None


def _table():
    global _TABLE
    if _TABLE is None:
        _TABLE = deprecated.modules()
    return _TABLE


def _resolve(target, where, name):
    module, attr = target.rsplit(".", 1)
    try:
        return getattr(importlib.import_module(module), attr)
    except ImportError as e:
        raise ImportError(f"Could not import `{module}.{attr}` while trying to import `{where}.{name}`.") from e


def _module_getattr(imports, full_module_name, name):
    target = imports.get(name)
    if not target:
        provider_modules = sorted({t.rsplit(".", 1)[0] for t in imports.values()})
        if (
            not name.startswith("__")
            and provider_modules
            and all(m.startswith("airflow.providers.") for m in provider_modules)
        ):
            # A name Airflow 1.10's module had and 2.10's table does not map (a class
            # renamed when it moved to its provider): the provider's stub of that name, so
            # the DAG still loads and the task fails when it runs, as any provider task.
            return getattr(importlib.import_module(provider_modules[0]), name)
        raise AttributeError(f"The module `{full_module_name!r}` has no attribute `{name!r}`")
    value = _resolve(target, full_module_name, name)
    return value


def install(package):
    """Registers the deprecated modules of ``package`` (e.g. ``airflow.operators``) in
    ``sys.modules`` (and as attributes of the package), as Airflow 2.10 does."""
    import functools

    parent = sys.modules[package]
    prefix = package + "."
    for full_name, imports in _table().items():
        if not full_name.startswith(prefix) or "." in full_name[len(prefix) :]:
            continue
        if full_name in sys.modules:
            continue
        module = types.ModuleType(full_name)
        module.__getattr__ = functools.partial(_module_getattr, imports, full_name)
        module.__lithoflow_deprecated__ = True
        module.__all__ = sorted(imports)
        sys.modules[full_name] = module
        setattr(parent, full_name[len(prefix) :], module)


# Airflow 1.10's ``from airflow.operators import X`` / ``from airflow.sensors import X`` /
# ``from airflow.hooks import X`` / ``from airflow.contrib.operators import X``: the class
# of that name in any of the package's modules (lithoflow's own modules first).
_PACKAGE_NAMES = {
    "airflow.operators": {
        "BashOperator": "airflow.operators.bash.BashOperator",
        "PythonOperator": "airflow.operators.python.PythonOperator",
        "BranchPythonOperator": "airflow.operators.python.BranchPythonOperator",
        "ShortCircuitOperator": "airflow.operators.python.ShortCircuitOperator",
        "PythonVirtualenvOperator": "airflow.operators.python.PythonVirtualenvOperator",
        "ExternalPythonOperator": "airflow.operators.python.ExternalPythonOperator",
        "DummyOperator": "airflow.operators.empty.EmptyOperator",
        "EmptyOperator": "airflow.operators.empty.EmptyOperator",
        "LatestOnlyOperator": "airflow.operators.latest_only.LatestOnlyOperator",
        "TriggerDagRunOperator": "airflow.operators.trigger_dagrun.TriggerDagRunOperator",
        "BaseBranchOperator": "airflow.operators.branch.BaseBranchOperator",
        "EmailOperator": "airflow.operators.email.EmailOperator",
        "SubDagOperator": "airflow.operators.subdag.SubDagOperator",
        "LithopsCallAsyncOperator": "airflow.operators.lithops_airflow_plugin.LithopsCallAsyncOperator",
        "LithopsMapOperator": "airflow.operators.lithops_airflow_plugin.LithopsMapOperator",
        "LithopsMapReduceOperator": "airflow.operators.lithops_airflow_plugin.LithopsMapReduceOperator",
        "CloudbuttonCallAsyncOperator": "airflow.operators.cloudbutton_airflow_plugin.CloudbuttonCallAsyncOperator",
        "CloudbuttonAsyncOperator": "airflow.operators.cloudbutton_airflow_plugin.CloudbuttonAsyncOperator",
        "CloudbuttonMapOperator": "airflow.operators.cloudbutton_airflow_plugin.CloudbuttonMapOperator",
        "CloudbuttonMapReduceOperator": "airflow.operators.cloudbutton_airflow_plugin.CloudbuttonMapReduceOperator",
        "IBMPyWrenCallAsyncOperator": "airflow.operators.pywren_ibm_cloud_airflow.IBMPyWrenCallAsyncOperator",
        "IBMPyWrenMapOperator": "airflow.operators.pywren_ibm_cloud_airflow.IBMPyWrenMapOperator",
        "IBMPyWrenMapReduceOperator": "airflow.operators.pywren_ibm_cloud_airflow.IBMPyWrenMapReduceOperator",
    },
    "airflow.sensors": {
        "BaseSensorOperator": "airflow.sensors.base.BaseSensorOperator",
        "ExternalTaskSensor": "airflow.sensors.external_task.ExternalTaskSensor",
        "ExternalTaskMarker": "airflow.sensors.external_task.ExternalTaskMarker",
        "FileSensor": "airflow.sensors.filesystem.FileSensor",
        "PythonSensor": "airflow.sensors.python.PythonSensor",
        "BashSensor": "airflow.sensors.bash.BashSensor",
        "TimeDeltaSensor": "airflow.sensors.time_delta.TimeDeltaSensor",
        "TimeSensor": "airflow.sensors.time_sensor.TimeSensor",
        "DateTimeSensor": "airflow.sensors.date_time.DateTimeSensor",
        "S3KeySensor": "airflow.providers.amazon.aws.sensors.s3.S3KeySensor",
    },
}


def package_getattr(package, name, namespace=None):
    """The 1.10 package-level import of ``name`` from ``package`` (or its submodule
    ``name``, loaded on first use)."""
    if name[:1].islower():
        try:
            module = importlib.import_module(f"{package}.{name}")
        except ModuleNotFoundError as e:
            if e.name != f"{package}.{name}":
                raise
        else:
            if namespace is not None:
                namespace[name] = module
            return module
    target = _PACKAGE_NAMES.get(package, {}).get(name)
    if target is None:
        prefix = package + "."
        for full_name, imports in _table().items():
            if full_name.startswith(prefix) and name in imports:
                target = imports[name]
                break
    if target is None:
        if package in _PLUGIN_PACKAGES and name[:1].isupper():
            # Airflow 1.10 put an installed plugin's operators here (``from airflow.operators
            # import MyPluginOperator``): lithoflow loads no plugins, so the task is a stub that
            # loads and fails when it runs, as a provider operator lithoflow does not implement.
            from airflow._lithoflow.providers import _make_operator_stub

            value = _make_operator_stub(name, package)
            if namespace is not None:
                namespace[name] = value
            return value
        raise AttributeError(f"module {package!r} has no attribute {name!r}")
    return _resolve(target, package, name)


_PLUGIN_PACKAGES = ("airflow.operators", "airflow.sensors")
