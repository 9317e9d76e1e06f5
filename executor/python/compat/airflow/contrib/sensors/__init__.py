"""Airflow 1.10's ``airflow.contrib.sensors``: its modules as Airflow 2.10's deprecated aliases
(targets in providers lithoflow does not implement are stubs)."""

from airflow._lithoflow import aliases as _aliases

_aliases.install(__name__)


def __getattr__(name):
    if name.startswith("__"):
        raise AttributeError(name)
    return _aliases.package_getattr(__name__, name, globals())
