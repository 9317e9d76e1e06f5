"""Airflow's ``airflow.utils.module_loading``."""

import importlib


def import_string(dotted_path):
    """Import a dotted module path and return the attribute/class designated by the last name."""
    try:
        module_path, class_name = dotted_path.rsplit(".", 1)
    except ValueError:
        raise ImportError(f"{dotted_path} doesn't look like a module path")
    module = importlib.import_module(module_path)
    try:
        return getattr(module, class_name)
    except AttributeError:
        raise ImportError(f'Module "{module_path}" does not define a "{class_name}" attribute/class')


def qualname(o):
    if callable(o) and hasattr(o, "__module__") and hasattr(o, "__name__"):
        return f"{o.__module__}.{o.__name__}"
    cls = o if isinstance(o, type) else type(o)
    return f"{cls.__module__}.{cls.__name__}"


def iter_namespace(ns):
    import pkgutil

    return pkgutil.iter_modules(ns.__path__, ns.__name__ + ".")


def is_valid_dotpath(path):
    import re

    return bool(re.match(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$", path))
