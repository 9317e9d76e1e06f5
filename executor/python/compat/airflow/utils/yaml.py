"""Airflow's ``airflow.utils.yaml`` needs PyYAML, which lithoflow does not ship."""


def __getattr__(name):
    import importlib

    return getattr(importlib.import_module("yaml"), name)
