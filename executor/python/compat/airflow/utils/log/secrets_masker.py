"""Airflow's ``mask_secret`` (delegates to lithoflow's runtime while a task runs)."""

import sys


def mask_secret(secret, name=None):
    runtime = sys.modules.get("lithoflow")
    masker = getattr(runtime, "_mask", None) if runtime is not None else None
    if masker is not None and isinstance(secret, str):
        masker(secret)


def redact(value, name=None, max_depth=None):
    return value
