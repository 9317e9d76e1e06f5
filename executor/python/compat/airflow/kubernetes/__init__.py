"""Airflow 2's ``airflow.kubernetes``: its modules as Airflow 2.10's deprecated aliases of the
cncf.kubernetes provider (stubs in lithoflow)."""

from airflow._lithoflow import aliases as _aliases

_aliases.install(__name__)


def __getattr__(name):
    if name.startswith("__"):
        raise AttributeError(name)
    return _aliases.package_getattr(__name__, name, globals())
