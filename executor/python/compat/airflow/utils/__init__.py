"""Airflow's ``airflow.utils`` package (the parts DAG files use); its modules load on
first attribute use too (``airflow.utils.dates.days_ago`` after ``import airflow``)."""


def __getattr__(name):
    import importlib

    if not name.startswith("__"):
        try:
            module = importlib.import_module(f"{__name__}.{name}")
        except ModuleNotFoundError as e:
            if e.name != f"{__name__}.{name}":
                raise
        else:
            globals()[name] = module
            return module
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
