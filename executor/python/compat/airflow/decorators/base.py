"""Airflow's TaskFlow machinery (airflow/decorators/base.py, 2.10): ``DecoratedOperator``,
``_TaskDecorator`` (``__call__``, ``partial``, ``expand``, ``expand_kwargs``, ``override``),
``task_decorator_factory`` and ``get_unique_task_id``."""

import collections.abc
import functools
import inspect
import re
import textwrap

from airflow._lithoflow.core import NOTSET
from airflow.models.baseoperator import BaseOperator, _mapping, build_mapped, ensure_xcomarg_return_value, prevent_duplicates
from airflow.models.dag import DagContext
from airflow.models.xcom_arg import XComArg
from airflow.utils.context import KNOWN_CONTEXT_KEYS
from airflow.utils.task_group import TaskGroupContext
from airflow.utils.trigger_rule import TriggerRule


@functools.lru_cache(maxsize=4096)
def _signature(function):
    """``inspect.signature`` of a task's function, asked several times per task."""
    return inspect.signature(function)


def _cached_signature(function):
    try:
        return _signature(function)
    except TypeError:  # unhashable callable
        return inspect.signature(function)


def get_unique_task_id(task_id, dag=None, task_group=None):
    """Generate unique task id given a DAG (or if run in a DAG context): ``task_id``,
    ``task_id__1``, ``task_id__2``, ..."""
    dag = dag or DagContext.get_current_dag()
    if not dag:
        return task_id

    # We need to check if we are in the context of TaskGroup as the task_id may
    # already be altered
    task_group = task_group or TaskGroupContext.get_current_task_group(dag)
    tg_task_id = task_group.child_id(task_id) if task_group else task_id

    if tg_task_id not in dag.task_ids:
        return task_id

    def _find_id_suffixes(dag):
        prefix = re.split(r"__\d+$", tg_task_id)[0]
        for task_id in dag.task_ids:
            match = re.match(rf"^{prefix}__(\d+)$", task_id)
            if match:
                yield int(match.group(1))
        yield 0  # Default if there's no matching task ID.

    core = re.split(r"__\d+$", task_id)[0]
    return f"{core}__{max(_find_id_suffixes(dag)) + 1}"


class DecoratedOperator(BaseOperator):
    """Wraps a Python callable and captures args/kwargs when called for execution."""

    template_fields = ("op_args", "op_kwargs")
    template_fields_renderers = {"op_args": "py", "op_kwargs": "py"}
    shallow_copy_attrs = ("python_callable",)

    def __init__(self, *, python_callable, task_id, op_args=None, op_kwargs=None, kwargs_to_upstream=None, **kwargs):
        task_id = get_unique_task_id(task_id, kwargs.get("dag"), kwargs.get("task_group"))
        self.python_callable = python_callable
        kwargs_to_upstream = kwargs_to_upstream or {}
        op_args = op_args or []
        op_kwargs = op_kwargs or {}

        # Check the decorated function's signature. We go through the argument
        # list and "fill in" defaults to arguments that are known context keys,
        # since values for those will be provided when the task is run.
        signature = _cached_signature(python_callable)
        faulty_parameters = [
            param.name
            for param in signature.parameters.values()
            if param.name in KNOWN_CONTEXT_KEYS and param.default not in (None, inspect.Parameter.empty)
        ]
        if faulty_parameters:
            message = f"Context key parameter {faulty_parameters[0]} can't have a default other than None"
            raise ValueError(message)

        parameters = [
            param.replace(default=None) if param.name in KNOWN_CONTEXT_KEYS else param
            for param in signature.parameters.values()
        ]
        try:
            signature = signature.replace(parameters=parameters)
        except ValueError as err:
            message = textwrap.dedent(
                f"""
                The function signature broke while assigning defaults to context key parameters.

                The decorator is replacing the signature
                > {python_callable.__name__}({', '.join(str(param) for param in signature.parameters.values())})

                with
                > {python_callable.__name__}({', '.join(str(param) for param in parameters)})

                which isn't valid: {err}
                """
            )
            raise ValueError(message) from err

        # Check that arguments can be binded. There's a slight difference when
        # we do validation for task-mapping: Since there's no guarantee we can
        # receive enough arguments at parse time, we use bind_partial to simply
        # check all the arguments we know are valid. Whether these are enough
        # can only be known at execution time, when unmapping happens, and this
        # is called without the _airflow_mapped_validation_only flag.
        if kwargs.get("_airflow_mapped_validation_only") or getattr(_mapping, "record", None) is not None:
            signature.bind_partial(*op_args, **op_kwargs)
        else:
            signature.bind(*op_args, **op_kwargs)

        self.op_args = op_args
        self.op_kwargs = op_kwargs
        super().__init__(task_id=task_id, **kwargs_to_upstream, **kwargs)

    def _hook_apply_defaults(self, *args, **kwargs):
        if "python_callable" not in kwargs:
            return args, kwargs
        python_callable = kwargs["python_callable"]
        default_args = kwargs.get("default_args") or {}
        op_kwargs = kwargs.get("op_kwargs") or {}
        f_sig = _cached_signature(python_callable)
        for arg in f_sig.parameters:
            if arg not in op_kwargs and arg in default_args:
                op_kwargs[arg] = default_args[arg]
        kwargs["op_kwargs"] = op_kwargs
        return args, kwargs

    def get_python_source(self):
        raw_source = inspect.getsource(self.python_callable)
        res = textwrap.dedent(raw_source)
        lines = res.splitlines()
        while lines and lines[0].lstrip().startswith("@"):
            lines.pop(0)
        return "\n".join(lines)


def is_mappable(v):
    """Airflow's ``is_mappable``: an XComArg, a mapped argument, or a non-string collection."""
    from airflow.decorators.task_group import MappedArgument

    return isinstance(v, (MappedArgument, XComArg, collections.abc.Mapping, collections.abc.Sequence)) and not isinstance(
        v, str
    )


def validate_expand_arg_names(function_signature, func, kwargs):
    """Airflow's ``ExpandableFactory._validate_arg_names``."""
    parameters = function_signature.parameters
    if any(v.kind == inspect.Parameter.VAR_KEYWORD for v in parameters.values()):
        return
    kwargs_left = kwargs.copy()
    for arg_name in parameters:
        value = kwargs_left.pop(arg_name, NOTSET)
        if func == "expand" and value is not NOTSET and not is_mappable(value):
            tname = type(value).__name__
            raise ValueError(f"expand() got an unexpected type {tname!r} for keyword argument {arg_name!r}")
    if len(kwargs_left) == 1:
        raise TypeError(f"{func}() got an unexpected keyword argument {next(iter(kwargs_left))!r}")
    elif kwargs_left:
        names = ", ".join(repr(n) for n in kwargs_left)
        raise TypeError(f"{func}() got unexpected keyword arguments {names}")


def _infer_multiple_outputs(function):
    annotation = getattr(function, "__annotations__", {}).get("return", inspect.Signature.empty)
    if annotation is inspect.Signature.empty:
        return False
    if isinstance(annotation, str):
        try:
            annotation = eval(annotation, getattr(function, "__globals__", {}))  # noqa: S307 (a type hint)
        except Exception:
            return False
    ttype = getattr(annotation, "__origin__", annotation)
    return isinstance(ttype, type) and issubclass(ttype, collections.abc.Mapping)


class _TaskDecorator:
    """A decorated function: calling it creates the task and returns its XComArg."""

    _airflow_is_task_decorator = True

    def __init__(self, function, operator_class, multiple_outputs=NOTSET, kwargs=None, decorator_name="task",
                 is_setup=False, is_teardown=False, on_failure_fail_dagrun=False):
        if not callable(function):
            raise TypeError(f"'function' must be callable (got {function!r})")
        self.function = function
        self.operator_class = operator_class
        if multiple_outputs is NOTSET or multiple_outputs is None:
            multiple_outputs = _infer_multiple_outputs(function)
        self.multiple_outputs = multiple_outputs
        self.kwargs = dict(kwargs or {})
        self.decorator_name = decorator_name
        self.is_setup = is_setup
        self.is_teardown = is_teardown
        self.on_failure_fail_dagrun = on_failure_fail_dagrun
        if "self" in self.function_signature.parameters:
            raise TypeError(f"@{self.decorator_name} does not support methods")
        self.kwargs.setdefault("task_id", self.function.__name__)
        self.__name__ = getattr(function, "__name__", "task")
        self.__qualname__ = getattr(function, "__qualname__", self.__name__)
        self.__doc__ = getattr(function, "__doc__", None)
        self.__module__ = getattr(function, "__module__", None)

    def _evolve(self, **changes):
        fields = dict(
            function=self.function,
            operator_class=self.operator_class,
            multiple_outputs=self.multiple_outputs,
            kwargs=self.kwargs,
            decorator_name=self.decorator_name,
            is_setup=self.is_setup,
            is_teardown=self.is_teardown,
            on_failure_fail_dagrun=self.on_failure_fail_dagrun,
        )
        fields.update(changes)
        return type(self)(**fields)

    def __repr__(self):
        return f"<@{self.decorator_name} {self.__name__}>"

    @property
    def function_signature(self):
        return _cached_signature(self.function)

    @property
    def __wrapped__(self):
        return self.function

    def __call__(self, *args, **kwargs):
        if self.is_teardown:
            if "trigger_rule" in self.kwargs:
                raise ValueError("Trigger rule not configurable for teardown tasks.")
            self.kwargs.update(trigger_rule=TriggerRule.ALL_DONE_SETUP_SUCCESS)
        on_failure_fail_dagrun = self.kwargs.pop("on_failure_fail_dagrun", self.on_failure_fail_dagrun)
        op = self.operator_class(
            python_callable=self.function,
            op_args=args,
            op_kwargs=kwargs,
            multiple_outputs=self.multiple_outputs,
            **self.kwargs,
        )
        op.is_setup = self.is_setup
        op.is_teardown = self.is_teardown
        op.on_failure_fail_dagrun = on_failure_fail_dagrun
        op_doc_attrs = [op.doc, op.doc_json, op.doc_md, op.doc_rst, op.doc_yaml]
        # Set the task's doc_md to the function's docstring if it exists and no other doc* args are set.
        if self.function.__doc__ and not any(op_doc_attrs):
            op.doc_md = self.function.__doc__
        return XComArg(op)

    def _validate_arg_names(self, func, kwargs):
        context_keys_being_mapped = KNOWN_CONTEXT_KEYS.intersection(kwargs)
        if len(context_keys_being_mapped) == 1:
            (name,) = context_keys_being_mapped
            raise ValueError(f"cannot call {func}() on task context variable {name!r}")
        elif context_keys_being_mapped:
            names = ", ".join(repr(n) for n in context_keys_being_mapped)
            raise ValueError(f"cannot call {func}() on task context variables {names}")
        validate_expand_arg_names(self.function_signature, func, kwargs)

    def expand(self, **map_kwargs):
        if self.kwargs.get("trigger_rule") == TriggerRule.ALWAYS and any(
            isinstance(expanded, XComArg) for expanded in map_kwargs.values()
        ):
            raise ValueError(
                "Task-generated mapping within a task using 'expand' is not allowed with trigger rule 'always'."
            )
        if not map_kwargs:
            raise TypeError("no arguments to expand against")
        self._validate_arg_names("expand", map_kwargs)
        prevent_duplicates(self.kwargs, map_kwargs, fail_reason="mapping already partial")
        return self._expand({"expand": dict(map_kwargs), "expand_kwargs": None}, strict=False)

    def expand_kwargs(self, kwargs, *, strict=True):
        if isinstance(kwargs, collections.abc.Sequence) and not isinstance(kwargs, str):
            for item in kwargs:
                if not isinstance(item, (XComArg, collections.abc.Mapping)):
                    raise TypeError(f"expected XComArg or list[dict], not {type(kwargs).__name__}")
        elif not isinstance(kwargs, XComArg):
            raise TypeError(f"expected XComArg or list[dict], not {type(kwargs).__name__}")
        return self._expand({"expand": None, "expand_kwargs": kwargs}, strict=strict)

    def _expand(self, mapping, *, strict):
        ensure_xcomarg_return_value(mapping["expand"] if mapping["expand"] is not None else mapping["expand_kwargs"])
        if self.is_teardown:
            if "trigger_rule" in self.kwargs:
                raise ValueError("Trigger rule not configurable for teardown tasks.")
            self.kwargs.update(trigger_rule=TriggerRule.ALL_DONE_SETUP_SUCCESS)
        task_kwargs = dict(self.kwargs)
        partial_op_kwargs = dict(task_kwargs.pop("op_kwargs", {}) or {})
        if "task_concurrency" in task_kwargs:
            raise TypeError("unexpected argument: task_concurrency")
        record = {
            "expand": mapping["expand"],
            "expand_kwargs": mapping["expand_kwargs"],
            "partial": partial_op_kwargs,
            "strict": strict,
            "taskflow": True,
        }
        op_kwargs = dict(partial_op_kwargs)
        if mapping["expand"]:
            op_kwargs.update(mapping["expand"])
        op = build_mapped(
            self.operator_class,
            dict(
                python_callable=self.function,
                op_args=(),
                op_kwargs=op_kwargs,
                multiple_outputs=self.multiple_outputs,
                **task_kwargs,
            ),
            record,
        )
        op.is_setup = self.is_setup
        op.is_teardown = self.is_teardown
        op.on_failure_fail_dagrun = self.on_failure_fail_dagrun
        return XComArg(op)

    def partial(self, **kwargs):
        self._validate_arg_names("partial", kwargs)
        old_kwargs = self.kwargs.get("op_kwargs", {})
        prevent_duplicates(old_kwargs, kwargs, fail_reason="duplicate partial")
        kwargs.update(old_kwargs)
        return self._evolve(kwargs={**self.kwargs, "op_kwargs": kwargs})

    def override(self, **kwargs):
        return self._evolve(kwargs={**self.kwargs, **kwargs})


def task_decorator_factory(python_callable=None, *, multiple_outputs=None, decorated_operator_class,
                           decorator_name="task", **kwargs):
    """Generate a wrapper that wraps a function into an Airflow operator."""
    if multiple_outputs is None:
        multiple_outputs = NOTSET
    if python_callable:
        return _TaskDecorator(
            function=python_callable,
            multiple_outputs=multiple_outputs,
            operator_class=decorated_operator_class,
            kwargs=kwargs,
            decorator_name=decorator_name,
        )
    elif python_callable is not None:
        raise TypeError("No args allowed while using @task, use kwargs instead")

    def decorator_factory(python_callable):
        return _TaskDecorator(
            function=python_callable,
            multiple_outputs=multiple_outputs,
            operator_class=decorated_operator_class,
            kwargs=kwargs,
            decorator_name=decorator_name,
        )

    return decorator_factory


TaskDecorator = _TaskDecorator

__all__ = ["DecoratedOperator", "TaskDecorator", "task_decorator_factory", "get_unique_task_id", "BaseOperator"]
