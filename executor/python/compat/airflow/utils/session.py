"""Airflow's ``provide_session`` / ``create_session`` (lithoflow has no metadata database:
the decorated function gets ``session=None``)."""

import contextlib
import functools

NEW_SESSION = None


def provide_session(func):
    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        kwargs.setdefault("session", None)
        return func(*args, **kwargs)

    return wrapper


@contextlib.contextmanager
def create_session(scoped=True):
    yield None
