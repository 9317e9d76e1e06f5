"""Functions of the task-instance fixture DAGs (ti_*.toml)."""

from lithoflow import get_current_context


def produce(n):
    """Pushes two keyed values, prints a marker for the log test and returns a dict."""
    ti = get_current_context()["ti"]
    ti.xcom_push(key="rows", value=n * 10)
    ti.xcom_push(key="meta", value={"source": "ti_fixture", "n": n})
    print(f"TI-PRODUCE-MARKER n={n}")
    return {"n": n, "items": list(range(n))}


def flaky():
    """Fails its first try, succeeds on the second."""
    ti = get_current_context()["ti"]
    print(f"TI-FLAKY try {ti.try_number}")
    if ti.try_number < 2:
        raise ValueError("first try fails on purpose")
    return "recovered"


def square(x):
    """One mapped instance's value."""
    return x * x


def broken():
    """Always fails."""
    raise RuntimeError("broken on purpose")
