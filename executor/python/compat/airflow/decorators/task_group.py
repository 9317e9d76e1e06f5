"""Airflow's ``@task_group`` (airflow/decorators/task_group.py, 2.10): calling the decorated
function builds a TaskGroup (``add_suffix_on_collision=True``: a second call gives
``group__1``) and returns the function's return value, or the group when it returns None;
``.partial()``/``.expand()``/``.expand_kwargs()`` build a ``MappedTaskGroup``."""

import collections.abc
import functools
import inspect

from airflow.models.baseoperator import prevent_duplicates
from airflow.models.xcom_arg import ResolveMixin, XComArg
from airflow.utils.task_group import MappedTaskGroup, TaskGroup

_TASK_GROUP_PARAMS = frozenset(inspect.signature(TaskGroup.__init__).parameters) - {"self"}


class MappedArgument(ResolveMixin):
    """What a mapped task group's function receives for a mapped argument: ``._input`` (the
    whole expand input: the ``expand()`` keyword arguments, or ``expand_kwargs()``'s value)
    and ``._key``; like Airflow's, it references every XComArg of the input."""

    def __init__(self, *, input, key):
        self._input = input
        self._key = key

    def __repr__(self):
        return f"MappedArgument({self._key!r})"

    def iter_references(self):
        return XComArg.iter_xcom_references(self._input)


class _TaskGroupFactory:
    def __init__(self, function, tg_kwargs=None, partial_kwargs=None):
        if not callable(function):
            raise TypeError(f"'function' must be callable (got {function!r})")
        self.function = function
        self.tg_kwargs = dict(tg_kwargs or {})
        unknown = set(self.tg_kwargs) - _TASK_GROUP_PARAMS
        if unknown:
            raise TypeError(f"got an unexpected keyword argument {sorted(unknown)[0]!r}")
        self.partial_kwargs = dict(partial_kwargs or {})
        self._task_group_created = False
        self.tg_kwargs.setdefault("group_id", self.function.__name__)
        self.__name__ = getattr(function, "__name__", "task_group")
        self.__doc__ = getattr(function, "__doc__", None)

    @property
    def function_signature(self):
        return inspect.signature(self.function)

    def __call__(self, *args, **kwargs):
        """Instantiate the task group."""
        return self._create_task_group(TaskGroup, *args, **kwargs)

    def _create_task_group(self, tg_factory, *args, **kwargs):
        with tg_factory(add_suffix_on_collision=True, **self.tg_kwargs) as task_group:
            if self.function.__doc__ and not task_group.tooltip:
                task_group.tooltip = self.function.__doc__
            # Invoke function to run Tasks inside the TaskGroup
            retval = self.function(*args, **kwargs)
        self._task_group_created = True
        # If the task-creating function returns a task, forward the return value
        # so dependencies bind to it.
        if retval is not None:
            return retval
        # Otherwise return the task group as a whole.
        return task_group

    def override(self, **kwargs):
        return _TaskGroupFactory(self.function, {**self.tg_kwargs, **kwargs}, self.partial_kwargs)

    def _validate_arg_names(self, func, kwargs):
        from airflow.decorators.base import validate_expand_arg_names

        validate_expand_arg_names(self.function_signature, func, kwargs)

    def partial(self, **kwargs):
        self._validate_arg_names("partial", kwargs)
        prevent_duplicates(self.partial_kwargs, kwargs, fail_reason="duplicate partial")
        kwargs.update(self.partial_kwargs)
        return _TaskGroupFactory(self.function, self.tg_kwargs, kwargs)

    def expand(self, **kwargs):
        if not kwargs:
            raise TypeError("no arguments to expand against")
        self._validate_arg_names("expand", kwargs)
        prevent_duplicates(self.partial_kwargs, kwargs, fail_reason="mapping already partial")
        record = {"expand": dict(kwargs), "expand_kwargs": None, "partial": dict(self.partial_kwargs)}
        return self._create_task_group(
            functools.partial(MappedTaskGroup, expand_input=kwargs, _lithoflow_mapped=record),
            **self.partial_kwargs,
            **{k: MappedArgument(input=kwargs, key=k) for k in kwargs},
        )

    def expand_kwargs(self, kwargs):
        if isinstance(kwargs, collections.abc.Sequence) and not isinstance(kwargs, str):
            for item in kwargs:
                if not isinstance(item, (XComArg, collections.abc.Mapping)):
                    raise TypeError(f"expected XComArg or list[dict], not {type(kwargs).__name__}")
        elif not isinstance(kwargs, XComArg):
            raise TypeError(f"expected XComArg or list[dict], not {type(kwargs).__name__}")

        function_has_vararg = any(
            v.kind == inspect.Parameter.VAR_POSITIONAL or v.kind == inspect.Parameter.VAR_KEYWORD
            for v in self.function_signature.parameters.values()
        )
        if function_has_vararg:
            raise TypeError("calling expand_kwargs() on task group function with * or ** is not supported")
        map_kwargs = [k for k in self.function_signature.parameters if k not in self.partial_kwargs]
        record = {"expand": None, "expand_kwargs": kwargs, "partial": dict(self.partial_kwargs)}
        return self._create_task_group(
            functools.partial(MappedTaskGroup, expand_input=kwargs, _lithoflow_mapped=record),
            **self.partial_kwargs,
            **{k: MappedArgument(input=kwargs, key=k) for k in map_kwargs},
        )


def task_group(python_callable=None, **tg_kwargs):
    """Python TaskGroup decorator: ``@task_group`` or ``@task_group(group_id=..., ...)``."""
    if callable(python_callable) and not tg_kwargs:
        return _TaskGroupFactory(function=python_callable, tg_kwargs=tg_kwargs)
    if python_callable is not None and not callable(python_callable):
        tg_kwargs["group_id"] = python_callable
    return functools.partial(_TaskGroupFactory, tg_kwargs=tg_kwargs)
