"""Airflow's ``airflow.utils.helpers``: ``chain`` and ``cross_downstream`` (Airflow 1.10's
home of them), ``validate_key``, ``validate_group_key``, ``at_most_one``, ``exactly_one``,
``merge_dicts``..."""

from airflow._lithoflow.core import GROUP_KEY_REGEX, KEY_REGEX, NOTSET, validate_group_key, validate_key  # noqa: F401


def chain(*tasks):
    """Airflow 1.10/2's ``airflow.utils.helpers.chain`` (moved to ``airflow.models.baseoperator``)."""
    from airflow.models.baseoperator import chain as _chain

    return _chain(*tasks)


def cross_downstream(*args, **kwargs):
    from airflow.models.baseoperator import cross_downstream as _cross_downstream

    return _cross_downstream(*args, **kwargs)


def at_most_one(*args):
    """True if at most one of args is "truthy" (NOTSET counts as None)."""
    return sum(1 for a in args if a is not NOTSET and bool(a)) <= 1


def exactly_one(*args):
    """True if exactly one of args is "truthy"."""
    if set(args) == {NOTSET}:
        return False
    return sum(map(bool, args)) == 1


def merge_dicts(dict1, dict2):
    merged = dict1.copy()
    for k, v in dict2.items():
        if k in merged and isinstance(v, dict):
            merged[k] = merge_dicts(merged.get(k, {}), v)
        else:
            merged[k] = v
    return merged


def partition(pred, iterable):
    import itertools

    iter_1, iter_2 = itertools.tee(iterable)
    return itertools.filterfalse(pred, iter_1), filter(pred, iter_2)


def chunks(items, chunk_size):
    if chunk_size <= 0:
        raise ValueError("Chunk size must be a positive integer")
    for i in range(0, len(items), chunk_size):
        yield items[i : i + chunk_size]


def reduce_in_chunks(fn, iterable, initializer, chunk_size=0):
    import functools

    if not chunk_size:
        chunk_size = len(iterable)
    return functools.reduce(fn, chunks(iterable, chunk_size), initializer)


def is_container(obj):
    return hasattr(obj, "__iter__") and not isinstance(obj, str)


def as_flattened_list(iterable):
    return [e for i in iterable for e in i]


def parse_template_string(template_string):
    return template_string, None


def render_log_filename(*args, **kwargs):
    return ""


def prune_dict(val, mode="strict"):
    def is_empty(x):
        if mode == "strict":
            return x is None
        return x is None or x == {} or x == []

    if isinstance(val, dict):
        return {k: prune_dict(v, mode) for k, v in val.items() if not is_empty(v)}
    if isinstance(val, list):
        return [prune_dict(v, mode) for v in val if not is_empty(v)]
    return val
