"""lithoflow's implementation of Apache Airflow's DAG-authoring API (stdlib only).

A DAG file written for Airflow 1.10, 2 or 3 imports this package as ``airflow`` and builds
the same DAG objects (ids, task ids, edges, arguments) Airflow would; lithoflow's loader
then describes them and its engine runs them. Names and behaviour follow Airflow 2.10.5
(and 3.1's task SDK for ``airflow.sdk``); docs/airflow-runtime.md lists what differs.
"""

__version__ = "2.10.5"

# The providers lithoflow does not implement are importable as stubs (their operators
# load as tasks that fail at run time, clearly).
from airflow._lithoflow import providers as _providers

_providers.install()

_LAZY = {
    "DAG": ("airflow.models.dag", "DAG"),
    "Dataset": ("airflow.datasets", "Dataset"),
    "Asset": ("airflow.datasets", "Asset"),
    "XComArg": ("airflow.models.xcom_arg", "XComArg"),
    "AirflowException": ("airflow.exceptions", "AirflowException"),
    "macros": ("airflow.macros", None),
    "settings": ("airflow.settings", None),
    "configuration": ("airflow.configuration", None),
    "plugins_manager": ("airflow.plugins_manager", None),
}

__all__ = ["__version__", "DAG", "Dataset", "XComArg"]


def __getattr__(name):
    import importlib

    entry = _LAZY.get(name)
    if entry is None:
        # ``import airflow`` then ``airflow.utils.dates.days_ago(2)``: Airflow's own import
        # has loaded its subpackages by then; here they load on first use.
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

    module = importlib.import_module(entry[0])
    val = module if entry[1] is None else getattr(module, entry[1])
    globals()[name] = val
    return val
