"""Where the loaded `airflow` package keeps its DAGs, for the loader (lithoflow_loader.py)
and the worker (lithoflow_dagfiles.py): both look them up the same way. Standard library
only, and it imports nothing of `airflow`: it reads what is already in sys.modules."""

import sys


def dag_context():
    """Airflow's ``DagContext`` of the loaded package (2's or the task SDK's), or None."""
    for name in ("airflow.models.dag", "airflow.sdk.definitions._internal.contextmanager", "airflow.sdk"):
        mod = sys.modules.get(name)
        ctx = getattr(mod, "DagContext", None) if mod is not None else None
        if ctx is not None and hasattr(ctx, "autoregistered_dags"):
            return ctx
    return None


def dag_classes():
    """The loaded ``DAG`` classes a file may have built its DAGs with."""
    classes = []
    for name in ("airflow.models.dag", "airflow.sdk", "airflow"):
        mod = sys.modules.get(name)
        cls = getattr(mod, "DAG", None) if mod is not None else None
        if isinstance(cls, type) and cls not in classes:
            classes.append(cls)
    return tuple(classes)
