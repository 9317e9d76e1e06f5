"""Airflow's ``BaseOperator`` (airflow/models/baseoperator.py in 2.10,
airflow/sdk/bases/operator.py in 3.1): its constructor arguments and defaults,
``default_args`` applied by the metaclass as Airflow's ``apply_defaults`` does (explicit
argument > the task group's ``default_args`` > the DAG's), task-group prefixes, the
``>>``/``<<`` wiring, XComArg dependencies of templated fields, ``partial().expand()``,
``chain``, ``chain_linear`` and ``cross_downstream``.

lithoflow bookkeeping on each operator (never Airflow API):

- ``_lithoflow_line``: the DAG file's line where the task was created;
- ``_lithoflow_explicit``: the constructor argument names given explicitly or through
  ``default_args`` (at any level of the class hierarchy);
- ``_lithoflow_kind``: what kind of lithoflow task it is (see ``_kind_of``);
- ``_lithoflow_mapped``: ``None``, or for ``.partial().expand()`` /
  ``.expand_kwargs()``: ``{"expand": {...} or None, "expand_kwargs": value or None,
  "partial": {...}, "strict": bool, "taskflow": bool}``;
- ``_lithoflow_unsupported``: True for a provider operator lithoflow does not implement.
"""

import abc
import collections.abc
import contextlib
import copy
import datetime
import functools
import inspect
import threading
import weakref
from collections.abc import Sequence

from airflow._lithoflow.core import NOTSET, caller_line, validate_key
from airflow.exceptions import AirflowException, FailStopDagInvalidTriggerRule
from airflow.models.taskmixin import DAGNode, DependencyMixin
from airflow.utils.trigger_rule import TriggerRule

DEFAULT_OWNER = "airflow"
DEFAULT_POOL_SLOTS = 1
DEFAULT_PRIORITY_WEIGHT = 1
DEFAULT_EXECUTOR = None
DEFAULT_QUEUE = "default"
DEFAULT_IGNORE_FIRST_DEPENDS_ON_PAST = False
DEFAULT_WAIT_FOR_PAST_DEPENDS_BEFORE_SKIPPING = False
DEFAULT_RETRIES = 0
DEFAULT_RETRY_DELAY = datetime.timedelta(seconds=300)
DEFAULT_WEIGHT_RULE = "downstream"
DEFAULT_TRIGGER_RULE = TriggerRule.ALL_SUCCESS
DEFAULT_TASK_EXECUTION_TIMEOUT = None
DEFAULT_POOL_NAME = "default_pool"
MAX_RETRY_DELAY = 24 * 60 * 60

# Set while an operator is built for ``.expand()``/``.expand_kwargs()``: required
# arguments that are mapped at run time may be missing.
_mapping = threading.local()


def parse_retries(retries):
    if retries is None:
        return 0
    elif type(retries) == int:  # noqa: E721
        return retries
    try:
        parsed_retries = int(retries)
    except (TypeError, ValueError):
        raise AirflowException(f"'retries' type must be int, not {type(retries).__name__}")
    return parsed_retries


def coerce_timedelta(value, *, key=None):
    if isinstance(value, datetime.timedelta):
        return value
    return datetime.timedelta(seconds=value)


def _get_parent_defaults(dag, task_group):
    if not dag:
        return {}, ParamsDict()
    dag_args = copy.copy(dag.default_args)
    dag_params = copy.deepcopy(dag.params) if dag.params else ParamsDict()
    if task_group:
        if task_group.default_args and not isinstance(task_group.default_args, collections.abc.Mapping):
            raise TypeError("default_args must be a mapping")
        dag_args.update(task_group.default_args)
    return dag_args, dag_params


def get_merged_defaults(dag, task_group, task_params, task_default_args):
    """Airflow 2.10 ``get_merged_defaults``: the DAG's default_args, the task group's over
    them, the operator's own ``default_args`` over both; and the merged params."""
    args, params = _get_parent_defaults(dag, task_group)
    if task_params:
        if not isinstance(task_params, collections.abc.Mapping):
            raise TypeError("params must be a mapping")
        params.update(task_params)
    if task_default_args:
        if not isinstance(task_default_args, collections.abc.Mapping):
            raise TypeError("default_args must be a mapping")
        args.update(task_default_args)
        with contextlib.suppress(KeyError):
            params.update(task_default_args["params"] or {})
    return args, params


class BaseOperatorMeta(abc.ABCMeta):
    """Metaclass of BaseOperator: wraps each class's ``__init__`` so ``default_args``
    fill the arguments of its signature that were not given (Airflow's ``_apply_defaults``)."""

    @classmethod
    def _apply_defaults(cls, func):
        sig_cache = inspect.signature(func)
        non_variadic_params = {
            name: param
            for (name, param) in sig_cache.parameters.items()
            if param.name != "self" and param.kind not in (param.VAR_POSITIONAL, param.VAR_KEYWORD)
        }
        non_optional_args = {
            name
            for name, param in non_variadic_params.items()
            if param.default == param.empty and name != "task_id"
        }
        param_names = frozenset(sig_cache.parameters)

        @functools.wraps(func)
        def apply_defaults(self, *args, **kwargs):
            if args:
                raise AirflowException("Use keyword arguments when initializing operators")

            instantiated_from_mapped = kwargs.pop(
                "_airflow_from_mapped",
                getattr(self, "_BaseOperator__from_mapped", False),
            )

            first = "_lithoflow_explicit" not in self.__dict__
            if first:
                object.__setattr__(self, "_lithoflow_explicit", set(kwargs))
                object.__setattr__(self, "_lithoflow_line", caller_line(2))
                object.__setattr__(self, "_lithoflow_mapped", getattr(_mapping, "record", None))
            explicit = self._lithoflow_explicit
            if not first:
                # What a subclass passes on to its base counts as given too.
                explicit.update(k for k in kwargs if k not in ("default_args", "params", "_airflow_from_mapped"))

            dag = kwargs.get("dag") or DagContext.get_current_dag()
            task_group = kwargs.get("task_group")
            if dag and not task_group:
                task_group = TaskGroupContext.get_current_task_group(dag)

            task_default_args = kwargs.pop("default_args", None)
            default_args, merged_params = get_merged_defaults(
                dag=dag,
                task_group=task_group,
                task_params=kwargs.pop("params", None),
                task_default_args=task_default_args,
            )

            for arg in default_args:
                if arg in param_names and arg not in kwargs:
                    kwargs[arg] = default_args[arg]
                    explicit.add(arg)
            if "params" in default_args:
                explicit.add("params")

            missing_args = non_optional_args.difference(kwargs)
            if missing_args and getattr(_mapping, "record", None) is not None:
                for name in missing_args:
                    kwargs[name] = None
                missing_args = set()
            if len(missing_args) == 1:
                raise AirflowException(f"missing keyword argument {missing_args.pop()!r}")
            elif missing_args:
                display = ", ".join(repr(a) for a in sorted(missing_args))
                raise AirflowException(f"missing keyword arguments {display}")

            if merged_params:
                kwargs["params"] = merged_params

            hook = getattr(self, "_hook_apply_defaults", None)
            if hook:
                args, kwargs = hook(**kwargs, default_args=default_args)
                default_args = kwargs.pop("default_args", {})

            if "_BaseOperator__init_kwargs" not in self.__dict__:
                object.__setattr__(self, "_BaseOperator__init_kwargs", {})
            object.__setattr__(self, "_BaseOperator__from_mapped", instantiated_from_mapped)

            result = func(self, **kwargs, default_args=default_args)

            self._BaseOperator__init_kwargs.update(kwargs)

            # Set upstream task defined by XComArgs passed to template fields of the operator,
            # once, after the outermost __init__.
            if not instantiated_from_mapped and func == self.__init__.__wrapped__:
                self.set_xcomargs_dependencies()
                object.__setattr__(self, "_BaseOperator__instantiated", True)
            return result

        apply_defaults.__lithoflow_wrapped__ = True
        return apply_defaults

    def __new__(cls, name, bases, namespace, **kwargs):
        init = namespace.get("__init__")
        if init is not None and not getattr(init, "__lithoflow_wrapped__", False):
            namespace["__init__"] = cls._apply_defaults(init)
        return super().__new__(cls, name, bases, namespace, **kwargs)


class _PartialDescriptor:
    """``Operator.partial(...)`` on the class; an instance cannot be partial'd."""

    def __get__(self, obj, cls=None):
        if obj is not None:

            def partial(**kwargs):
                raise TypeError("partial can only be called on Operator classes, not Tasks themselves")

            return partial

        def partial(**kwargs):
            validate_mapping_kwargs(cls, "partial", kwargs)
            return OperatorPartial(cls, kwargs)

        return partial


def _kind_of(op):
    """lithoflow's kind of an operator: the kind of the first of lithoflow's classes in its
    MRO, unless a user class before it overrides ``poke`` (a sensor: ``custom_sensor``) or
    ``execute`` (``custom``)."""
    from airflow.sensors.base import BaseSensorOperator

    is_sensor = isinstance(op, BaseSensorOperator)
    user_execute = False
    for klass in type(op).__mro__:
        if klass.__module__.split(".")[0] == "airflow":
            if user_execute:
                return "custom"
            return _inherited_kind(klass)
        own = klass.__dict__
        if is_sensor and "poke" in own:
            return "custom_sensor"
        if "execute" in own:
            user_execute = True
            if not is_sensor:
                return "custom"
    return "custom"


# The kind of each operator class (it depends on the class only); weak, as a warm worker
# re-imports DAG files and their classes.
_KIND_BY_CLASS = weakref.WeakKeyDictionary()


def _inherited_kind(klass):
    for base in klass.__mro__:
        kind = base.__dict__.get("_lithoflow_base_kind")
        if kind:
            return kind
    return "custom"


class BaseOperator(DAGNode, metaclass=BaseOperatorMeta):
    """Abstract base class for all operators (Airflow's constructor, defaults and checks)."""

    template_fields = ()
    template_ext = ()
    template_fields_renderers = {}
    ui_color = "#fff"
    ui_fgcolor = "#000"
    pool = ""
    shallow_copy_attrs = ()
    operator_extra_links = ()
    supports_lineage = False
    deps = frozenset()
    start_trigger_args = None
    start_from_trigger = False
    is_setup = False
    is_teardown = False
    on_failure_fail_dagrun = False
    _lithoflow_base_kind = "custom"
    _lithoflow_unsupported = False
    _BaseOperator__instantiated = False
    _BaseOperator__from_mapped = False

    partial = _PartialDescriptor()

    def __init__(
        self,
        task_id,
        owner=DEFAULT_OWNER,
        email=None,
        email_on_retry=True,
        email_on_failure=True,
        retries=DEFAULT_RETRIES,
        retry_delay=DEFAULT_RETRY_DELAY,
        retry_exponential_backoff=False,
        max_retry_delay=None,
        start_date=None,
        end_date=None,
        depends_on_past=False,
        ignore_first_depends_on_past=DEFAULT_IGNORE_FIRST_DEPENDS_ON_PAST,
        wait_for_past_depends_before_skipping=DEFAULT_WAIT_FOR_PAST_DEPENDS_BEFORE_SKIPPING,
        wait_for_downstream=False,
        dag=None,
        params=None,
        default_args=None,
        priority_weight=DEFAULT_PRIORITY_WEIGHT,
        weight_rule=DEFAULT_WEIGHT_RULE,
        queue=DEFAULT_QUEUE,
        pool=None,
        pool_slots=DEFAULT_POOL_SLOTS,
        sla=None,
        execution_timeout=DEFAULT_TASK_EXECUTION_TIMEOUT,
        on_execute_callback=None,
        on_failure_callback=None,
        on_success_callback=None,
        on_retry_callback=None,
        on_skipped_callback=None,
        pre_execute=None,
        post_execute=None,
        trigger_rule=DEFAULT_TRIGGER_RULE,
        resources=None,
        run_as_user=None,
        task_concurrency=None,
        map_index_template=None,
        max_active_tis_per_dag=None,
        max_active_tis_per_dagrun=None,
        executor=None,
        executor_config=None,
        do_xcom_push=True,
        multiple_outputs=False,
        inlets=None,
        outlets=None,
        task_group=None,
        doc=None,
        doc_md=None,
        doc_json=None,
        doc_yaml=None,
        doc_rst=None,
        task_display_name=None,
        logger_name=None,
        allow_nested_operators=True,
        **kwargs,
    ):
        kwargs.pop("_airflow_mapped_validation_only", None)
        if _host.AIRFLOW_VERSION >= 3:
            # Airflow 3's BaseOperator (airflow/sdk/bases/operator.py) has no task_concurrency,
            # and refuses unknown arguments with a TypeError.
            if task_concurrency is not None:
                kwargs["task_concurrency"] = task_concurrency
                task_concurrency = None
            if kwargs:
                raise TypeError(
                    f"Invalid arguments were passed to {self.__class__.__name__} (task_id: {task_id}). "
                    f"Invalid arguments were:\n**kwargs: {kwargs}",
                )
        if kwargs:
            raise AirflowException(
                f"Invalid arguments were passed to {self.__class__.__name__} (task_id: {task_id}). "
                f"Invalid arguments were:\n**kwargs: {kwargs}",
            )

        dag = dag or DagContext.get_current_dag()
        task_group = task_group or TaskGroupContext.get_current_task_group(dag)

        d = self.__dict__
        d["_dag"] = None
        d["task_group"] = None
        d["task_id"] = full_id = task_group.child_id(task_id) if task_group else task_id

        validate_key(full_id)

        d["upstream_task_ids"] = set()
        d["downstream_task_ids"] = set()

        if not d.get("_BaseOperator__from_mapped") and task_group:
            task_group.add(self)

        if execution_timeout is not None and not isinstance(execution_timeout, datetime.timedelta):
            raise ValueError(
                f"execution_timeout must be timedelta object but passed as type: {type(execution_timeout)}"
            )

        if start_date and isinstance(start_date, datetime.datetime):
            start_date = _timezone.convert_to_utc(start_date)
        else:
            # Airflow logs "start_date for ... isn't datetime.datetime" and leaves it unset.
            start_date = None
        end_date = _timezone.convert_to_utc(end_date) if end_date else None

        pool = DEFAULT_POOL_NAME if pool is None else pool
        if pool_slots < 1:
            dag_str = f" in dag {dag.dag_id}" if dag else ""
            raise ValueError(f"pool slots for {full_id}{dag_str} cannot be less than 1")

        if trigger_rule == "dummy":
            trigger_rule = TriggerRule.ALWAYS
        if trigger_rule == "none_failed_or_skipped":
            trigger_rule = TriggerRule.NONE_FAILED_MIN_ONE_SUCCESS
        if not TriggerRule.is_valid(trigger_rule):
            raise AirflowException(
                f"The trigger_rule must be one of {TriggerRule.all_triggers()},"
                f"'{dag.dag_id if dag else ''}.{task_id}'; received '{trigger_rule}'."
            )
        trigger_rule = TriggerRule(trigger_rule)
        FailStopDagInvalidTriggerRule.check(dag=dag, trigger_rule=trigger_rule)

        if priority_weight is not None and not isinstance(priority_weight, int):
            raise AirflowException(
                f"`priority_weight` for task '{full_id}' only accepts integers, "
                f"received '{type(priority_weight)}'."
            )
        if isinstance(weight_rule, str) and not WeightRule.is_valid(weight_rule):
            # A custom strategy by its dotted path (Airflow finds it among the plugins'
            # registered strategies; here it must be importable).
            from airflow.utils.module_loading import import_string

            try:
                weight_rule = import_string(weight_rule)()
            except Exception:
                raise AirflowException(f"Unknown priority strategy {weight_rule}")
        if task_concurrency and not max_active_tis_per_dag:
            max_active_tis_per_dag = task_concurrency

        # Plain attributes, set at once (Airflow sets them one by one in this order).
        d.update(
            owner=owner,
            email=email,
            email_on_retry=email_on_retry,
            email_on_failure=email_on_failure,
            execution_timeout=execution_timeout,
            on_execute_callback=on_execute_callback,
            on_failure_callback=on_failure_callback,
            on_success_callback=on_success_callback,
            on_retry_callback=on_retry_callback,
            on_skipped_callback=on_skipped_callback,
            _pre_execute_hook=pre_execute,
            _post_execute_hook=post_execute,
            start_date=start_date,
            end_date=end_date,
            executor=executor,
            executor_config=executor_config or {},
            run_as_user=run_as_user,
            retries=parse_retries(retries),
            queue=queue,
            pool=pool,
            pool_slots=pool_slots,
            sla=sla,
            trigger_rule=trigger_rule,
            depends_on_past=True if wait_for_downstream else depends_on_past,
            ignore_first_depends_on_past=ignore_first_depends_on_past,
            wait_for_past_depends_before_skipping=wait_for_past_depends_before_skipping,
            wait_for_downstream=wait_for_downstream,
            retry_delay=coerce_timedelta(retry_delay, key="retry_delay"),
            retry_exponential_backoff=retry_exponential_backoff,
            max_retry_delay=(
                max_retry_delay
                if max_retry_delay is None
                else coerce_timedelta(max_retry_delay, key="max_retry_delay")
            ),
            params=ParamsDict(params),
            priority_weight=priority_weight,
            weight_rule=weight_rule,
            resources=resources,
            max_active_tis_per_dag=max_active_tis_per_dag,
            max_active_tis_per_dagrun=max_active_tis_per_dagrun,
            do_xcom_push=do_xcom_push,
            map_index_template=map_index_template,
            multiple_outputs=multiple_outputs,
            doc_md=doc_md,
            doc_json=doc_json,
            doc_yaml=doc_yaml,
            doc_rst=doc_rst,
            doc=doc,
            _task_display_property_value=(
                task_display_name if task_display_name and task_display_name != task_id else None
            ),
            _logger_name=logger_name,
            allow_nested_operators=allow_nested_operators,
            inlets=(inlets if isinstance(inlets, list) else [inlets]) if inlets else [],
            outlets=(outlets if isinstance(outlets, list) else [outlets]) if outlets else [],
        )

        if dag:
            if not isinstance(dag, DAG):
                raise TypeError(f"Expected DAG; received {dag.__class__.__name__}")
            self.dag = dag

        if isinstance(self.template_fields, str):
            self.template_fields = [self.template_fields]

        if SetupTeardownContext.active:
            SetupTeardownContext.update_context_map(self)

    # --- lithoflow bookkeeping -----------------------------------------------------------

    @property
    def _lithoflow_kind(self):
        override = self.__dict__.get("_lithoflow_kind_override")
        if override:
            return override
        cls = type(self)
        kind = _KIND_BY_CLASS.get(cls)
        if kind is None:
            kind = _KIND_BY_CLASS[cls] = _kind_of(self)
        return kind

    @_lithoflow_kind.setter
    def _lithoflow_kind(self, value):
        self.__dict__["_lithoflow_kind_override"] = value

    # --- identity ------------------------------------------------------------------------

    def __eq__(self, other):
        return self is other

    def __hash__(self):
        return id(self)

    def __repr__(self):
        return f"<Task({self.task_type}): {self.task_id}>"

    __str__ = __repr__

    def __setattr__(self, key, value):
        object.__setattr__(self, key, value)
        d = self.__dict__
        if (
            "_BaseOperator__instantiated" in d
            and key in self.template_fields
            and not d.get("_BaseOperator__from_mapped")
        ):
            XComArg.apply_upstream_relationship(self, value)

    def __deepcopy__(self, memo):
        cls = self.__class__
        result = cls.__new__(cls)
        memo[id(self)] = result
        shallow_copy = tuple(cls.shallow_copy_attrs) + ("_dag", "task_group", "python_callable")
        for k, v in self.__dict__.items():
            if k in shallow_copy:
                object.__setattr__(result, k, v)
            else:
                try:
                    object.__setattr__(result, k, copy.deepcopy(v, memo))
                except Exception:
                    object.__setattr__(result, k, v)
        return result

    # --- names ---------------------------------------------------------------------------

    @property
    def task_type(self):
        return self.__class__.__name__

    @property
    def operator_name(self):
        return getattr(self, "custom_operator_name", None) or self.task_type

    @property
    def node_id(self):
        return self.task_id

    @property
    def task_display_name(self):
        return self._task_display_property_value or self.task_id

    @property
    def label(self):
        tg = self.task_group
        if tg and tg.node_id and tg.prefix_group_id:
            return self.task_id[len(tg.node_id) + 1 :]
        return self.task_id

    @property
    def dag(self):
        dag = self.__dict__.get("_dag")
        if dag is None:
            raise AirflowException(f"Operator {self} has not been assigned to a DAG yet")
        return dag

    @dag.setter
    def dag(self, dag):
        """Operators can be assigned to one DAG, one time. Repeat assignments to that same DAG are ok."""
        from airflow.models.dag import DAG

        if dag is None:
            object.__setattr__(self, "_dag", None)
            return
        if not isinstance(dag, DAG):
            raise TypeError(f"Expected DAG; received {dag.__class__.__name__}")
        current = self.__dict__.get("_dag")
        if current is not None and current is not dag:
            raise AirflowException(f"The DAG assigned to {self} can not be changed.")
        if self._BaseOperator__from_mapped:
            pass
        elif dag.task_dict.get(self.task_id) is not self:
            dag.add_task(self)
        object.__setattr__(self, "_dag", dag)

    def has_dag(self):
        return self.__dict__.get("_dag") is not None

    @property
    def dag_id(self):
        dag = self.__dict__.get("_dag")
        return dag.dag_id if dag is not None else f"adhoc_{self.owner}"

    @property
    def task_concurrency(self):
        return self.max_active_tis_per_dag

    @property
    def roots(self):
        return [self]

    @property
    def leaves(self):
        return [self]

    @property
    def output(self):
        """Returns reference to XCom pushed by current operator."""
        from airflow.models.xcom_arg import XComArg

        return XComArg(operator=self)

    @property
    def inherits_from_empty_operator(self):
        return getattr(self, "_is_empty", False)

    @property
    def log(self):
        import logging

        return logging.getLogger("airflow.task.operators." + self.__class__.__module__ + "." + self.__class__.__name__)

    @property
    def priority_weight_total(self):
        return self.priority_weight

    # --- wiring --------------------------------------------------------------------------

    def set_xcomargs_dependencies(self):
        """Upstream tasks of the XComArgs found in this operator's templated fields."""
        for field in self.template_fields:
            arg = getattr(self, field, NOTSET)
            if arg is not NOTSET:
                XComArg.apply_upstream_relationship(self, arg)

    def add_inlets(self, inlets):
        self.inlets.extend(inlets)

    def add_outlets(self, outlets):
        self.outlets.extend(outlets)

    def get_inlet_defs(self):
        return self.inlets

    def get_outlet_defs(self):
        return self.outlets

    def as_setup(self):
        self.is_setup = True
        return self

    def as_teardown(self, *, setups=NOTSET, on_failure_fail_dagrun=NOTSET):
        self.is_teardown = True
        self.trigger_rule = TriggerRule.ALL_DONE_SETUP_SUCCESS
        if on_failure_fail_dagrun is not NOTSET:
            self.on_failure_fail_dagrun = on_failure_fail_dagrun
        if setups is not NOTSET:
            setups = [setups] if isinstance(setups, DependencyMixin) else setups
            for s in setups:
                s.is_setup = True
                s >> self
        return self

    def __enter__(self):
        if not self.is_setup and not self.is_teardown:
            raise AirflowException("Only setup/teardown tasks can be used as context managers.")
        from airflow.utils.setup_teardown import SetupTeardownContext

        SetupTeardownContext.push_setup_teardown_task(self)
        return SetupTeardownContext

    def __exit__(self, exc_type, exc_val, exc_tb):
        from airflow.utils.setup_teardown import SetupTeardownContext

        SetupTeardownContext.set_work_task_roots_and_leaves()

    def get_direct_relative_ids(self, upstream=False):
        if upstream:
            return self.upstream_task_ids
        return self.downstream_task_ids

    def get_flat_relative_ids(self, *, upstream=False):
        dag = self.dag
        relatives = set()
        stack = [self]
        while stack:
            task = stack.pop()
            for tid in task.get_direct_relative_ids(upstream):
                if tid not in relatives:
                    relatives.add(tid)
                    stack.append(dag.task_dict[tid])
        return relatives

    def get_flat_relatives(self, upstream=False):
        dag = self.dag
        return [dag.task_dict[tid] for tid in self.get_flat_relative_ids(upstream=upstream)]

    def iter_mapped_dependencies(self):
        from airflow.models.xcom_arg import XComArg

        mapped = self.__dict__.get("_lithoflow_mapped")
        if not mapped:
            return
        for value in (mapped.get("expand"), mapped.get("expand_kwargs")):
            for op, _ in XComArg.iter_xcom_references(value):
                yield op

    # --- running (the worker calls these through lithoflow's shims) ----------------------

    def execute(self, context):
        raise NotImplementedError()

    def pre_execute(self, context):
        if self._pre_execute_hook is not None:
            self._pre_execute_hook(context)

    def post_execute(self, context, result=None):
        if self._post_execute_hook is not None:
            self._post_execute_hook(context, result)

    def on_kill(self):
        """Override this method to clean up subprocesses when a task instance gets killed."""

    def prepare_for_execution(self):
        other = copy.copy(self)
        return other

    def render_template_fields(self, context, jinja_env=None):
        """lithoflow renders templated fields before the task runs (the engine's renderer)."""

    def resolve_template_files(self):
        pass

    def xcom_push(self, context, key, value, execution_date=None):
        context["ti"].xcom_push(key=key, value=value)

    @staticmethod
    def xcom_pull(context, task_ids=None, dag_id=None, key="return_value", include_prior_dates=None,
                  map_indexes=None, default=None):
        return context["ti"].xcom_pull(
            task_ids=task_ids, dag_id=dag_id, key=key, include_prior_dates=include_prior_dates
        )

    def defer(self, *, trigger, method_name, kwargs=None, timeout=None):
        from airflow.exceptions import TaskDeferred

        raise TaskDeferred(trigger=trigger, method_name=method_name, kwargs=kwargs, timeout=timeout)

    def resume_execution(self, next_method, next_kwargs, context):
        return getattr(self, next_method)(context, **(next_kwargs or {}))

    def dry_run(self):
        pass

    @classmethod
    def get_serialized_fields(cls):
        return frozenset()

    def get_template_env(self, dag=None):
        raise AirflowException("Jinja environments are not available in lithoflow: the engine renders templates")

    def clear(self, *args, **kwargs):
        return 0

    def run(self, *args, **kwargs):
        raise AirflowException("BaseOperator.run() is not available in lithoflow: use `lithoflow dags test`")

    def has_task(self, *args):
        return False


# --- partial() / expand() ------------------------------------------------------------------


def _init_param_names(klass):
    init = klass.__dict__.get("__init__")
    if init is None:
        return None
    init = getattr(init, "__wrapped__", init)
    try:
        params = inspect.signature(init).parameters.values()
    except (TypeError, ValueError):
        return None
    return [p.name for p in params if p.name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]


def validate_mapping_kwargs(op, func, value):
    """Airflow 2.10's ``validate_mapping_kwargs``: every argument of ``.partial()``/``.expand()``
    must be one of the operator's constructor arguments (and mappable, for ``expand``)."""
    from airflow.decorators.base import is_mappable

    if getattr(op, "_lithoflow_unsupported", False):
        # A provider operator lithoflow does not implement: its real signature is unknown.
        return
    unknown_args = value.copy()
    for klass in op.mro():
        param_names = _init_param_names(klass)
        if param_names is None:
            continue
        for name in param_names:
            arg = unknown_args.pop(name, NOTSET)
            if func != "expand":
                continue
            if arg is NOTSET:
                continue
            if is_mappable(arg):
                continue
            type_name = type(arg).__name__
            error = f"{op.__name__}.expand() got an unexpected type {type_name!r} for keyword argument {name}"
            raise ValueError(error)
        if not unknown_args:
            return  # If we have no args left to check: stop looking at the MRO chain.
    if len(unknown_args) == 1:
        error = f"an unexpected keyword argument {unknown_args.popitem()[0]!r}"
    else:
        names = ", ".join(repr(n) for n in unknown_args)
        error = f"unexpected keyword arguments {names}"
    raise TypeError(f"{op.__name__}.{func}() got {error}")


def prevent_duplicates(kwargs1, kwargs2, *, fail_reason):
    duplicated_keys = set(kwargs1).intersection(kwargs2)
    if not duplicated_keys:
        return
    if len(duplicated_keys) == 1:
        raise TypeError(f"{fail_reason} argument: {duplicated_keys.pop()}")
    duplicated_keys_display = ", ".join(sorted(duplicated_keys))
    raise TypeError(f"{fail_reason} arguments: {duplicated_keys_display}")


def ensure_xcomarg_return_value(arg):
    from airflow.models.xcom_arg import XComArg

    if isinstance(arg, XComArg):
        for operator, key in arg.iter_references():
            if key != "return_value":
                raise ValueError(f"cannot map over XCom with custom key {key!r} from {operator}")
    elif not isinstance(arg, (str, bytes)) and isinstance(arg, collections.abc.Collection):
        for v in (arg.values() if isinstance(arg, collections.abc.Mapping) else arg):
            ensure_xcomarg_return_value(v)


def build_mapped(operator_class, init_kwargs, record):
    """Builds the operator of ``.expand()``/``.expand_kwargs()`` with ``record`` as its
    ``_lithoflow_mapped``; required arguments mapped at run time may be missing."""
    from airflow.models.xcom_arg import XComArg

    previous = getattr(_mapping, "record", None)
    _mapping.record = record
    try:
        op = operator_class(**init_kwargs)
    finally:
        _mapping.record = previous
    object.__setattr__(op, "_lithoflow_mapped", record)
    op._lithoflow_explicit.discard("_airflow_mapped_validation_only")
    for value in (record.get("expand"), record.get("expand_kwargs")):
        XComArg.apply_upstream_relationship(op, value)
    return op


class OperatorPartial:
    """An operator class with some arguments given: ``Operator.partial(...)``; call
    ``.expand(**mapped)`` or ``.expand_kwargs(list_or_xcomarg)`` to make the mapped task."""

    def __init__(self, operator_class, kwargs):
        if "task_id" not in kwargs:
            raise TypeError("partial() missing required argument: 'task_id'")
        self.operator_class = operator_class
        self.kwargs = dict(kwargs)
        self.params = kwargs.get("params")
        self._expand_called = False

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.kwargs.items())
        return f"{self.operator_class.__name__}.partial({args})"

    def expand(self, **mapped_kwargs):
        if not mapped_kwargs:
            raise TypeError("no arguments to expand against")
        validate_mapping_kwargs(self.operator_class, "expand", mapped_kwargs)
        prevent_duplicates(self.kwargs, mapped_kwargs, fail_reason="unmappable or already specified")
        ensure_xcomarg_return_value(mapped_kwargs)
        self._expand_called = True
        record = {
            "expand": dict(mapped_kwargs),
            "expand_kwargs": None,
            "partial": dict(self.kwargs),
            "strict": False,
            "taskflow": False,
        }
        return build_mapped(self.operator_class, {**self.kwargs, **mapped_kwargs}, record)

    def expand_kwargs(self, kwargs, *, strict=True):
        from airflow.models.xcom_arg import XComArg

        if isinstance(kwargs, Sequence) and not isinstance(kwargs, str):
            for item in kwargs:
                if not isinstance(item, (XComArg, collections.abc.Mapping)):
                    raise TypeError(f"expected XComArg or list[dict], not {type(kwargs).__name__}")
        elif not isinstance(kwargs, XComArg):
            raise TypeError(f"expected XComArg or list[dict], not {type(kwargs).__name__}")
        ensure_xcomarg_return_value(kwargs)
        self._expand_called = True
        record = {
            "expand": None,
            "expand_kwargs": kwargs,
            "partial": dict(self.kwargs),
            "strict": strict,
            "taskflow": False,
        }
        return build_mapped(self.operator_class, dict(self.kwargs), record)


# --- chain helpers (airflow/models/baseoperator.py) --------------------------------------------


def chain(*tasks):
    """Given a number of tasks, builds a dependency chain (Airflow's ``chain``)."""
    for up_task, down_task in zip(tasks, tasks[1:]):
        if isinstance(up_task, DependencyMixin):
            up_task.set_downstream(down_task)
            continue
        if isinstance(down_task, DependencyMixin):
            down_task.set_upstream(up_task)
            continue
        if not isinstance(up_task, Sequence) or not isinstance(down_task, Sequence):
            raise TypeError(f"Chain not supported between instances of {type(up_task)} and {type(down_task)}")
        up_task_list = up_task
        down_task_list = down_task
        if len(up_task_list) != len(down_task_list):
            raise AirflowException(
                f"Chain not supported for different length Iterable. "
                f"Got {len(up_task_list)} and {len(down_task_list)}."
            )
        for up_t, down_t in zip(up_task_list, down_task_list):
            up_t.set_downstream(down_t)


def cross_downstream(from_tasks, to_tasks):
    """Set downstream dependencies for all tasks in from_tasks to all tasks in to_tasks."""
    for task in from_tasks:
        task.set_downstream(to_tasks)


def chain_linear(*elements):
    """Every element of each list downstream of every element of the previous one."""
    from airflow.utils.edgemodifier import EdgeModifier

    if not elements:
        raise ValueError("No tasks provided; nothing to do.")
    prev_elem = None
    deps_set = False
    for curr_elem in elements:
        if isinstance(curr_elem, EdgeModifier):
            raise ValueError("Labels are not supported by chain_linear")
        if prev_elem is not None:
            for task in prev_elem:
                task >> curr_elem
                if not deps_set:
                    deps_set = True
        prev_elem = [curr_elem] if isinstance(curr_elem, DependencyMixin) else curr_elem
    if not deps_set:
        raise ValueError("No dependencies were set. Did you forget to expand with `*`?")


class BaseOperatorLink:
    """Airflow's ``BaseOperatorLink`` (extra links in the UI; kept for imports)."""

    operators = []
    name = ""

    def get_link(self, operator, *, ti_key=None, dttm=None):
        return ""


# Imported last: these modules import this one's names lazily or not at all.
from airflow._lithoflow import host as _host  # noqa: E402
from airflow.models.dag import DAG, DagContext  # noqa: E402
from airflow.models.param import ParamsDict  # noqa: E402
from airflow.models.xcom_arg import XComArg  # noqa: E402
from airflow.utils import timezone as _timezone  # noqa: E402
from airflow.utils.setup_teardown import SetupTeardownContext  # noqa: E402
from airflow.utils.task_group import TaskGroupContext  # noqa: E402
from airflow.utils.weight_rule import WeightRule  # noqa: E402


def __getattr__(name):
    if name.startswith("__"):
        raise AttributeError(name)
    if name == "MappedOperator":
        from airflow.models.mappedoperator import MappedOperator

        return MappedOperator
    if name == "Operator":
        return BaseOperator
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "BaseOperator",
    "BaseOperatorMeta",
    "BaseOperatorLink",
    "chain",
    "chain_linear",
    "cross_downstream",
    "OperatorPartial",
]
