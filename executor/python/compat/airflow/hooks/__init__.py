"""Airflow's ``airflow.hooks`` (``BaseHook``; Airflow 1.10's ``airflow.hooks.base_hook``)."""

_LAZY = {"BaseHook": "airflow.hooks.base"}


from airflow._lithoflow import aliases as _aliases

_aliases.install(__name__)


def __getattr__(name):
    path = _LAZY.get(name)
    if not path:
        if name.startswith("__"):
            raise AttributeError(name)
        return _aliases.package_getattr(__name__, name, globals())
    import importlib

    return getattr(importlib.import_module(path), name)
