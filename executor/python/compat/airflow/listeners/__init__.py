"""Airflow's listeners (``airflow.listeners``): ``hookimpl`` marks a listener's hook
functions. lithoflow loads no plugins, so listeners are accepted and never called."""


def hookimpl(function=None, **_options):
    """``@hookimpl`` / ``@hookimpl(tryfirst=True)``: returns the function unchanged."""
    if function is None:
        return lambda f: f
    return function


hookspec = hookimpl

__all__ = ["hookimpl", "hookspec"]
