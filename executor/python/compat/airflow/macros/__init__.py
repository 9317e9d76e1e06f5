"""Airflow's ``airflow.macros`` (what templates reach as ``macros.*``; DAG files import a
few of them): ``ds_add``, ``ds_format``, ``datetime_diff_for_humans``, and the modules
``datetime``, ``timedelta``, ``time``, ``uuid``, ``random``, ``json``."""

import json  # noqa: F401
import time  # noqa: F401
import uuid  # noqa: F401
from datetime import datetime, timedelta
from random import random  # noqa: F401

from airflow._lithoflow import aliases as _aliases

_aliases.install(__name__)


def ds_add(ds, days):
    """Add or subtract days from a YYYY-MM-DD."""
    if not days:
        return str(ds)
    dt = datetime.strptime(str(ds), "%Y-%m-%d") + timedelta(days=days)
    return dt.strftime("%Y-%m-%d")


def ds_format(ds, input_format, output_format):
    """Output datetime string in a given format."""
    return datetime.strptime(str(ds), input_format).strftime(output_format)


def ds_format_locale(ds, input_format, output_format, locale=None):
    return ds_format(ds, input_format, output_format)


def datetime_diff_for_humans(dt, since=None):
    """Return a human-readable/approximate difference between datetimes."""
    since = since or datetime.now(dt.tzinfo)
    seconds = int((dt - since).total_seconds())
    future = seconds > 0
    seconds = abs(seconds)
    for name, size in (("year", 31536000), ("month", 2592000), ("week", 604800), ("day", 86400),
                       ("hour", 3600), ("minute", 60), ("second", 1)):
        if seconds >= size:
            n = seconds // size
            text = f"{n} {name}{'s' if n != 1 else ''}"
            return f"in {text}" if future else f"{text} ago"
    return "just now"


def __getattr__(name):
    if name.startswith("__"):
        raise AttributeError(name)
    return _aliases.package_getattr(__name__, name, globals())
