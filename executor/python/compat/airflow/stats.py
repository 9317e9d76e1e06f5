"""Airflow's ``Stats`` (airflow/stats.py): with metrics off (Airflow's default) every call does
nothing, as Airflow's ``DummyStatsLogger`` does."""

import contextlib


class DummyStatsLogger:
    @classmethod
    def incr(cls, stat, count=1, rate=1, *, tags=None):
        pass

    @classmethod
    def decr(cls, stat, count=1, rate=1, *, tags=None):
        pass

    @classmethod
    def gauge(cls, stat, value, rate=1, delta=False, *, tags=None):
        pass

    @classmethod
    def timing(cls, stat, dt, *, tags=None):
        pass

    @classmethod
    def timer(cls, *args, **kwargs):
        return contextlib.nullcontext()


Stats = DummyStatsLogger
