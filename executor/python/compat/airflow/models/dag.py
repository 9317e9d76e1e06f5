"""Airflow's ``DAG``, ``DagContext`` and ``@dag`` (airflow/models/dag.py, 2.10;
airflow/sdk/definitions/dag.py, 3.1).

``DAG`` accepts every constructor argument of Airflow 2.10 and 3.1 (positional ones
too, as 2.10 does), applies Airflow's checks (the key, the schedule arguments, tags, the
start date when a schedule is set in Airflow 2, params against a schedule) and keeps
Airflow's attributes (``dag_id``, ``default_args``, ``params``, ``task_dict``,
``schedule_interval``, ``timetable``, ``timezone``, ``catchup``, ``tags``, ...).

Defaults that differ between Airflow 2 and 3 (``catchup``, the default ``schedule``, how a
cron string or a ``timedelta`` becomes a timetable, the start-date rule) follow
``airflow._lithoflow.host.AIRFLOW_VERSION`` (2 unless the loader says 3).

lithoflow bookkeeping (never Airflow API):

- ``_lithoflow_line``: the DAG file's line where the DAG was created (for ``@dag``, the
  line of the decorated function's call);
- ``_lithoflow_args``: ``{name: value}`` of the constructor arguments given explicitly
  (``_lithoflow_explicit`` is the set of their names);
- ``_lithoflow_schedule``: the schedule as given (``schedule``, ``schedule_interval`` or
  ``timetable``, whichever was passed), or ``NOTSET``.
"""

import copy
import datetime
import functools
import inspect
import sys
from collections import deque
from collections.abc import Collection

from airflow._lithoflow import host
from airflow._lithoflow.core import NOTSET, ArgNotSet, caller_file, caller_line, validate_key
from airflow.exceptions import (
    AirflowDagInconsistent,
    AirflowException,
    DuplicateTaskIdFound,
    FailStopDagInvalidTriggerRule,
    ParamValidationError,
    TaskNotFound,
)

DEFAULT_VIEW_PRESETS = ["grid", "graph", "duration", "gantt", "landing_times"]
ORIENTATION_PRESETS = ["LR", "TB", "RL", "BT"]
TAG_MAX_LEN = 100
DEFAULT_SCHEDULE_INTERVAL = datetime.timedelta(days=1)


def _at_most_one(*args):
    """At most one of args is truthy (NOTSET counts as None)."""
    return sum(1 for a in args if a is not NOTSET and bool(a)) <= 1


def _is_timedelta_like(value):
    if isinstance(value, datetime.timedelta):
        return True
    # dateutil's relativedelta, when the DAG file has it.
    return type(value).__name__ == "relativedelta"


def create_timetable(interval, timezone, version=None):
    """A Timetable from a plain schedule value, as the Airflow version that applies does."""
    from airflow.timetables.interval import CronDataIntervalTimetable, DeltaDataIntervalTimetable
    from airflow.timetables.simple import ContinuousTimetable, NullTimetable, OnceTimetable
    from airflow.timetables.trigger import CronTriggerTimetable, DeltaTriggerTimetable

    version = version or host.AIRFLOW_VERSION
    if interval is NOTSET:
        if version >= 3:
            return NullTimetable()
        return DeltaDataIntervalTimetable(DEFAULT_SCHEDULE_INTERVAL)
    if interval is None:
        return NullTimetable()
    if interval == "@once":
        return OnceTimetable()
    if interval == "@continuous":
        return ContinuousTimetable()
    if _is_timedelta_like(interval):
        if version >= 3:
            return DeltaTriggerTimetable(interval)
        return DeltaDataIntervalTimetable(interval)
    if isinstance(interval, str):
        if version >= 3:
            return CronTriggerTimetable(interval, timezone=timezone)
        return CronDataIntervalTimetable(interval, timezone)
    raise ValueError(f"{interval!r} is not a valid schedule_interval.")


def has_start_date(dag):
    return bool("start_date" in dag.default_args or dag.start_date)


class DagContext:
    """DAG context is used to keep the current DAG when DAG is used as ContextManager."""

    _context_managed_dags = deque()
    autoregistered_dags = set()
    current_autoregister_module_name = None

    @classmethod
    def push_context_managed_dag(cls, dag):
        cls._context_managed_dags.appendleft(dag)

    @classmethod
    def pop_context_managed_dag(cls):
        dag = cls._context_managed_dags.popleft()
        # In a few cases around serialization we explicitly push None in to the stack
        if cls.current_autoregister_module_name is not None and dag and dag.auto_register:
            mod = sys.modules[cls.current_autoregister_module_name]
            cls.autoregistered_dags.add((dag, mod))
        return dag

    @classmethod
    def get_current_dag(cls):
        try:
            return cls._context_managed_dags[0]
        except IndexError:
            return None

    get_current = get_current_dag


def _dag_init_signature(
    self,
    dag_id,
    description=None,
    schedule=NOTSET,
    schedule_interval=NOTSET,
    timetable=None,
    start_date=None,
    end_date=None,
    full_filepath=None,
    template_searchpath=None,
    template_undefined=None,
    user_defined_macros=None,
    user_defined_filters=None,
    default_args=None,
    concurrency=None,
    max_active_tasks=16,
    max_active_runs=16,
    max_consecutive_failed_dag_runs=0,
    dagrun_timeout=None,
    sla_miss_callback=None,
    default_view="grid",
    orientation="LR",
    catchup=NOTSET,
    on_success_callback=None,
    on_failure_callback=None,
    doc_md=None,
    params=None,
    access_control=None,
    is_paused_upon_creation=None,
    jinja_environment_kwargs=None,
    render_template_as_native_obj=False,
    tags=None,
    owner_links=None,
    auto_register=True,
    fail_stop=False,
    dag_display_name=None,
    *,
    fail_fast=False,
    deadline=None,
    disable_bundle_versioning=False,
):
    """The union of Airflow 2.10's and 3.1's DAG arguments (2.10's positional order)."""


_DAG_SIGNATURE = inspect.signature(_dag_init_signature)
_AIRFLOW_2_ONLY = ("schedule_interval", "timetable", "full_filepath", "concurrency", "default_view", "orientation",
                   "fail_stop")
DAG_ARGUMENTS = tuple(p for p in _DAG_SIGNATURE.parameters if p != "self")


class DAG:
    """A dag (directed acyclic graph) is a collection of tasks with directional dependencies."""

    _lithoflow_line = None
    partial = False
    parent_dag = None
    is_subdag = False

    def __init__(self, *args, **kwargs):
        bound = _DAG_SIGNATURE.bind(self, *args, **kwargs)
        explicit = {k: v for k, v in bound.arguments.items() if k != "self"}
        if host.AIRFLOW_VERSION >= 3:
            # Airflow 3's DAG (airflow/sdk/definitions/dag.py) has no such arguments.
            for name in _AIRFLOW_2_ONLY:
                if name in explicit:
                    raise TypeError(f"DAG.__init__() got an unexpected keyword argument '{name}'")
        self._lithoflow_args = explicit
        self._lithoflow_explicit = set(explicit)
        if self._lithoflow_line is None:
            self._lithoflow_line = caller_line(2)
        bound.apply_defaults()
        a = {k: v for k, v in bound.arguments.items() if k != "self"}
        self._init(**a)
        self.fileloc = caller_file(2)

    def _init(
        self,
        dag_id,
        description,
        schedule,
        schedule_interval,
        timetable,
        start_date,
        end_date,
        full_filepath,
        template_searchpath,
        template_undefined,
        user_defined_macros,
        user_defined_filters,
        default_args,
        concurrency,
        max_active_tasks,
        max_active_runs,
        max_consecutive_failed_dag_runs,
        dagrun_timeout,
        sla_miss_callback,
        default_view,
        orientation,
        catchup,
        on_success_callback,
        on_failure_callback,
        doc_md,
        params,
        access_control,
        is_paused_upon_creation,
        jinja_environment_kwargs,
        render_template_as_native_obj,
        tags,
        owner_links,
        auto_register,
        fail_stop,
        dag_display_name,
        fail_fast,
        deadline,
        disable_bundle_versioning,
    ):
        from airflow.models.param import ParamsDict
        from airflow.timetables.base import Timetable
        from airflow.utils import timezone as tz_mod
        from airflow.utils.task_group import TaskGroup

        version = host.AIRFLOW_VERSION

        if tags and any(len(tag) > TAG_MAX_LEN for tag in tags):
            error = ValueError if version >= 3 else AirflowException
            raise error(f"tag cannot be longer than {TAG_MAX_LEN} characters")

        self.owner_links = owner_links or {}
        self.user_defined_macros = user_defined_macros
        self.user_defined_filters = user_defined_filters
        if default_args and not isinstance(default_args, dict):
            raise TypeError("default_args must be a dict")
        self.default_args = copy.deepcopy(default_args or {})
        params = params or {}

        # merging potentially conflicting default_args['params'] into params
        if "params" in self.default_args:
            params.update(self.default_args["params"])
            del self.default_args["params"]

        self.params = ParamsDict(params)

        validate_key(dag_id)

        self._dag_id = dag_id
        self._dag_display_property_value = dag_display_name

        if concurrency:
            max_active_tasks = concurrency
        self._max_active_tasks = max_active_tasks
        self._description = description
        self.task_dict = {}

        # set timezone from start_date
        tz = None
        if start_date and isinstance(start_date, datetime.datetime) and start_date.tzinfo:
            tz = start_date.tzinfo
        elif self.default_args.get("start_date"):
            date = self.default_args["start_date"]
            if not isinstance(date, datetime.datetime):
                date = tz_mod.parse(str(date))
                self.default_args["start_date"] = date
                start_date = date if start_date is None else start_date
            elif version >= 3 and start_date is None:
                # Airflow 3 (_default_start_date): the DAG's start_date from default_args.
                start_date = date
            if date.tzinfo:
                tz = date.tzinfo
        self.timezone = tz or tz_mod._default_timezone()

        if isinstance(self.default_args.get("end_date"), str):
            self.default_args["end_date"] = tz_mod.parse(self.default_args["end_date"], timezone=self.timezone)

        self.start_date = tz_mod.convert_to_utc(start_date)
        self.end_date = tz_mod.convert_to_utc(end_date)

        if "start_date" in self.default_args:
            self.default_args["start_date"] = tz_mod.convert_to_utc(self.default_args["start_date"])
        if "end_date" in self.default_args:
            self.default_args["end_date"] = tz_mod.convert_to_utc(self.default_args["end_date"])

        # sort out DAG's scheduling behavior
        scheduling_args = [schedule_interval, timetable, schedule]
        has_scheduling_args = any(a is not NOTSET and bool(a) for a in scheduling_args)
        has_empty_start_date = not ("start_date" in self.default_args or self.start_date)
        if version < 3 and has_scheduling_args and has_empty_start_date:
            raise ValueError("DAG is missing the start_date parameter")
        if not _at_most_one(*scheduling_args):
            raise ValueError("At most one allowed for args 'schedule_interval', 'timetable', and 'schedule'.")

        if timetable is not None:
            schedule = timetable
        elif schedule_interval is not NOTSET:
            schedule = schedule_interval
        self._lithoflow_schedule = schedule

        from airflow.datasets import BaseDataset, DatasetAll

        if isinstance(schedule, Timetable):
            self.timetable = schedule
            self.schedule_interval = schedule.summary
        elif isinstance(schedule, BaseDataset):
            from airflow.timetables.simple import DatasetTriggeredTimetable

            self.timetable = DatasetTriggeredTimetable(schedule)
            self.schedule_interval = self.timetable.summary
        elif isinstance(schedule, Collection) and not isinstance(schedule, str):
            from airflow.datasets import AssetAlias
            from airflow.timetables.simple import DatasetTriggeredTimetable

            if not all(isinstance(x, (BaseDataset, AssetAlias)) for x in schedule):
                raise ValueError("All elements in 'schedule' should be datasets or dataset aliases")
            self.timetable = DatasetTriggeredTimetable(DatasetAll(*schedule))
            self.schedule_interval = self.timetable.summary
        elif isinstance(schedule, ArgNotSet):
            self.timetable = create_timetable(schedule, self.timezone, version)
            self.schedule_interval = DEFAULT_SCHEDULE_INTERVAL if version < 3 else None
        else:
            self.timetable = create_timetable(schedule, self.timezone, version)
            self.schedule_interval = schedule

        if isinstance(template_searchpath, str):
            template_searchpath = [template_searchpath]
        self.template_searchpath = template_searchpath
        self.template_undefined = template_undefined
        self.last_loaded = tz_mod.utcnow()
        self.safe_dag_id = dag_id.replace(".", "__dot__")
        self.max_active_runs = max_active_runs
        self.max_consecutive_failed_dag_runs = max_consecutive_failed_dag_runs
        if self.max_consecutive_failed_dag_runs < 0:
            raise AirflowException(
                f"Invalid max_consecutive_failed_dag_runs: {self.max_consecutive_failed_dag_runs}."
                f"Requires max_consecutive_failed_dag_runs >= 0"
            )
        if self.timetable.active_runs_limit is not None:
            if self.timetable.active_runs_limit < self.max_active_runs:
                if version >= 3:
                    raise ValueError(
                        f"Invalid max_active_runs: {type(self.timetable).__name__} "
                        f"requires max_active_runs <= {self.timetable.active_runs_limit}"
                    )
                raise AirflowException(
                    f"Invalid max_active_runs: {type(self.timetable)} "
                    f"requires max_active_runs <= {self.timetable.active_runs_limit}"
                )
        self.dagrun_timeout = dagrun_timeout
        if dagrun_timeout is not None and not isinstance(dagrun_timeout, datetime.timedelta):
            raise TypeError("dagrun_timeout must be a timedelta")
        self.sla_miss_callback = sla_miss_callback
        if default_view in DEFAULT_VIEW_PRESETS:
            self._default_view = default_view
        elif default_view == "tree":
            self._default_view = "grid"
        else:
            raise AirflowException(
                f"Invalid values of dag.default_view: only support "
                f"{DEFAULT_VIEW_PRESETS}, but get {default_view}"
            )
        if orientation in ORIENTATION_PRESETS:
            self.orientation = orientation
        else:
            raise AirflowException(
                f"Invalid values of dag.orientation: only support "
                f"{ORIENTATION_PRESETS}, but get {orientation}"
            )
        if catchup is NOTSET:
            from airflow.configuration import conf

            catchup = conf.getboolean("scheduler", "catchup_by_default", fallback=version < 3)
        self.catchup = catchup
        if version >= 3 and self.timetable.can_be_scheduled and catchup and not has_start_date(self):
            raise ValueError("start_date is required when catchup=True")

        self.on_success_callback = on_success_callback
        self.on_failure_callback = on_failure_callback
        self.edge_info = {}
        self.has_on_success_callback = self.on_success_callback is not None
        self.has_on_failure_callback = self.on_failure_callback is not None

        self._access_control = access_control
        self.is_paused_upon_creation = is_paused_upon_creation
        self.auto_register = auto_register
        self.fail_stop = bool(fail_stop or fail_fast)
        self.fail_fast = self.fail_stop
        self.deadline = deadline
        self.disable_bundle_versioning = disable_bundle_versioning
        self.jinja_environment_kwargs = jinja_environment_kwargs
        self.render_template_as_native_obj = render_template_as_native_obj
        self.doc_md = doc_md
        self.tags = list(tags) if tags else []
        self._task_group = TaskGroup.create_root(self)
        self._task_group._lithoflow_line = self._lithoflow_line
        self.validate_schedule_and_params()
        self.task_count = 0

    # --- names and simple properties ------------------------------------------------------

    def __repr__(self):
        return f"<DAG: {self.dag_id}>"

    def __eq__(self, other):
        return self is other

    def __hash__(self):
        return id(self)

    def __enter__(self):
        DagContext.push_context_managed_dag(self)
        return self

    def __exit__(self, _type, _value, _tb):
        DagContext.pop_context_managed_dag()

    def __deepcopy__(self, memo):
        cls = self.__class__
        result = cls.__new__(cls)
        memo[id(self)] = result
        for k, v in self.__dict__.items():
            if k not in ("user_defined_macros", "user_defined_filters", "_log"):
                setattr(result, k, copy.deepcopy(v, memo))
        result.user_defined_macros = self.user_defined_macros
        result.user_defined_filters = self.user_defined_filters
        return result

    @property
    def dag_id(self):
        return self._dag_id

    @dag_id.setter
    def dag_id(self, value):
        self._dag_id = value

    @property
    def dag_display_name(self):
        return self._dag_display_property_value or self._dag_id

    @property
    def description(self):
        return self._description

    @property
    def default_view(self):
        return self._default_view

    @property
    def max_active_tasks(self):
        return self._max_active_tasks

    @max_active_tasks.setter
    def max_active_tasks(self, value):
        self._max_active_tasks = value

    @property
    def concurrency(self):
        return self._max_active_tasks

    @concurrency.setter
    def concurrency(self, value):
        self._max_active_tasks = value

    @property
    def access_control(self):
        return self._access_control

    @access_control.setter
    def access_control(self, value):
        self._access_control = value

    @property
    def schedule(self):
        return self._lithoflow_schedule

    @property
    def timetable_summary(self):
        return self.timetable.summary

    @property
    def pickle_id(self):
        return None

    @property
    def filepath(self):
        return self.fileloc

    @property
    def relative_fileloc(self):
        import os

        if host.DAGS_FOLDER and self.fileloc.startswith(host.DAGS_FOLDER):
            return os.path.relpath(self.fileloc, host.DAGS_FOLDER)
        return self.fileloc

    @property
    def folder(self):
        import os

        return os.path.dirname(self.fileloc)

    @property
    def owner(self):
        return ", ".join({t.owner for t in self.tasks})

    @property
    def allow_future_exec_dates(self):
        return False

    @property
    def normalized_schedule_interval(self):
        return self.schedule_interval

    @property
    def task_group(self):
        return self._task_group

    @property
    def subdags(self):
        """The subdags of this DAG's SubDagOperators, depth first (Airflow 2's ``DAG.subdags``)."""
        found = []
        for task in self.tasks:
            sub = getattr(task, "subdag", None)
            if isinstance(sub, DAG) and sub not in found:
                found.append(sub)
                found.extend(sub.subdags)
        return found

    @property
    def tasks(self):
        return list(self.task_dict.values())

    @tasks.setter
    def tasks(self, val):
        raise AttributeError("DAG.tasks can not be modified. Use dag.add_task() instead.")

    @property
    def task_ids(self):
        return list(self.task_dict)

    @property
    def teardowns(self):
        return [task for task in self.tasks if getattr(task, "is_teardown", None)]

    @property
    def tasks_upstream_of_teardowns(self):
        upstream_tasks = [t.upstream_list for t in self.teardowns]
        return [val for sublist in upstream_tasks for val in sublist if not getattr(val, "is_teardown", None)]

    @property
    def task_group_dict(self):
        return {k: v for k, v in self._task_group.get_task_group_dict().items() if k is not None}

    @property
    def roots(self):
        return [task for task in self.tasks if not task.upstream_list]

    @property
    def leaves(self):
        return [task for task in self.tasks if not task.downstream_list]

    def get_doc_md(self, doc_md):
        return doc_md

    def param(self, name, default=NOTSET):
        """Return a DagParam object for current dag."""
        from airflow.models.param import DagParam

        return DagParam(current_dag=self, name=name, default=default)

    # --- tasks ---------------------------------------------------------------------------

    def has_task(self, task_id):
        return task_id in self.task_dict

    def has_task_group(self, task_group_id):
        return task_group_id in self.task_group_dict

    def get_task(self, task_id, include_subdags=False):
        if task_id in self.task_dict:
            return self.task_dict[task_id]
        raise TaskNotFound(f"Task {task_id} not found")

    def add_task(self, task):
        """Add a task to the DAG (Airflow 2.10 ``DAG.add_task``: its checks and messages)."""
        FailStopDagInvalidTriggerRule.check(dag=self, trigger_rule=task.trigger_rule)

        from airflow.utils.task_group import TaskGroupContext

        # if the task has no start date, assign it the same as the DAG
        if not task.start_date:
            task.start_date = self.start_date
        # otherwise, the task will start on the later of its own start date and the DAG's
        elif self.start_date and isinstance(task.start_date, datetime.datetime):
            task.start_date = max(task.start_date, self.start_date)

        if not task.end_date:
            task.end_date = self.end_date
        elif task.end_date and self.end_date:
            task.end_date = min(task.end_date, self.end_date)

        task_id = task.task_id
        if not task.task_group:
            task_group = TaskGroupContext.get_current_task_group(self)
            if task_group:
                task_id = task_group.child_id(task_id)
                task_group.add(task)

        if (
            task_id in self.task_dict and self.task_dict[task_id] is not task
        ) or task_id in self._task_group.used_group_ids:
            raise DuplicateTaskIdFound(f"Task id '{task_id}' has already been added to the DAG")
        else:
            self.task_dict[task_id] = task
            object.__setattr__(task, "_dag", self)
            # Add task_id to used_group_ids to prevent group_id and task_id collisions.
            self._task_group.used_group_ids.add(task_id)

        self.task_count = len(self.task_dict)

    def add_tasks(self, tasks):
        for task in tasks:
            self.add_task(task)

    def _remove_task(self, task_id):
        task = self.task_dict.pop(task_id)
        tg = getattr(task, "task_group", None)
        if tg:
            tg._remove(task)
        self.task_count = len(self.task_dict)

    def set_edge_info(self, upstream_task_id, downstream_task_id, info):
        self.edge_info.setdefault(upstream_task_id, {})[downstream_task_id] = info

    def get_edge_info(self, upstream_task_id, downstream_task_id):
        empty = {}
        return self.edge_info.get(upstream_task_id, {}).get(downstream_task_id, empty)

    def set_dependency(self, upstream_task_id, downstream_task_id):
        self.get_task(upstream_task_id).set_downstream(self.get_task(downstream_task_id))

    def topological_sort(self, include_subdag_tasks=False):
        return self.task_group.topological_sort()

    def get_task_group_dict(self):
        return self.task_group_dict

    def partial_subset(self, task_ids_or_regex, include_downstream=False, include_upstream=True,
                       include_direct_upstream=False):
        raise AirflowException("DAG.partial_subset is not available in lithoflow")

    # --- checks --------------------------------------------------------------------------

    def check_cycle(self):
        from airflow.utils.dag_cycle_tester import check_cycle

        check_cycle(self)

    def _check_schedule_interval_matches_timetable(self):
        """Airflow 2.10: ``schedule_interval`` (or ``timetable``) changed after the DAG was made."""
        if self.schedule_interval == self.timetable.summary:
            return True
        try:
            timetable = create_timetable(self.schedule_interval, self.timezone)
        except ValueError:
            return False
        return timetable.summary == self.timetable.summary

    def validate(self):
        """Validate the DAG has a coherent setup (called by the DAG bag before bagging it)."""
        if host.AIRFLOW_VERSION < 3 and not self._check_schedule_interval_matches_timetable():
            raise AirflowDagInconsistent(
                f"inconsistent schedule: timetable {self.timetable.summary!r} "
                f"does not match schedule_interval {self.schedule_interval!r}",
            )
        self.validate_schedule_and_params()
        self.timetable.validate()
        self.validate_setup_teardown()

    def validate_schedule_and_params(self):
        if not self.timetable.can_be_scheduled:
            return
        try:
            self.params.validate()
        except ParamValidationError as pverr:
            if host.AIRFLOW_VERSION >= 3:
                raise ValueError(
                    f"Dag {self.dag_id!r} is not allowed to define a Schedule, "
                    "as there are required params without default values, or the default values are not valid."
                ) from pverr
            raise AirflowException(
                "DAG is not allowed to define a Schedule, "
                "if there are any required params without default values or default values are not valid."
            ) from pverr

    def validate_setup_teardown(self):
        """Setup tasks must be followed with trigger rule ALL_SUCCESS (Airflow 2.10)."""
        from airflow.utils.trigger_rule import TriggerRule

        for task in self.tasks:
            if getattr(task, "is_setup", False):
                for down_task in task.downstream_list:
                    if not getattr(down_task, "is_teardown", False) and down_task.trigger_rule != TriggerRule.ALL_SUCCESS:
                        # this is required to ensure consistent behavior of dag
                        # when clearing an indirect setup
                        raise ValueError("Setup tasks must be followed with trigger rule ALL_SUCCESS.")
            FailStopDagInvalidTriggerRule.check(dag=self, trigger_rule=task.trigger_rule)

    def iter_invalid_owner_links(self):
        return iter(())

    def resolve_template_files(self):
        for t in self.tasks:
            t.resolve_template_files()

    # --- running (not at parse time) ------------------------------------------------------

    def test(self, *args, **kwargs):
        raise AirflowException("DAG.test() is not available in lithoflow: run `lithoflow dags test <dag_id>`")

    def cli(self):
        raise AirflowException("DAG.cli() is not available in lithoflow: use the `lithoflow` command")

    def run(self, *args, **kwargs):
        raise AirflowException("DAG.run() is not available in lithoflow: run `lithoflow dags test <dag_id>`")

    def clear(self, *args, **kwargs):
        return 0

    def create_dagrun(self, *args, **kwargs):
        raise AirflowException("DAG.create_dagrun() is not available in lithoflow: use `lithoflow dags trigger`")

    def get_active_runs(self):
        return []

    def get_last_dagrun(self, *args, **kwargs):
        return None

    @property
    def latest_execution_date(self):
        return None

    @staticmethod
    def get_serialized_fields():
        return frozenset()


class DagModel:
    """Airflow's table of DAGs (lithoflow has no metadata database: queries find nothing)."""

    def __init__(self, **kwargs):
        self.__dict__.update(kwargs)

    @classmethod
    def get_dagmodel(cls, dag_id, session=None):
        return None

    @classmethod
    def get_current(cls, dag_id, session=None):
        return None


class DagTag:
    def __init__(self, name=None, dag_id=None):
        self.name = name
        self.dag_id = dag_id


def dag(dag_id_or_func="", *args, **dag_kwargs):
    """Python dag decorator which wraps a function into an Airflow DAG: calling the
    decorated function builds the DAG, its arguments become DAG params (Airflow 2.10 and
    3.1; the bare ``@dag`` form of Airflow 3 too)."""
    if callable(dag_id_or_func) and not isinstance(dag_id_or_func, str):
        return dag("", *args, **dag_kwargs)(dag_id_or_func)
    dag_id = dag_id_or_func
    if args:
        bound = _DAG_SIGNATURE.bind(None, dag_id, *args, **dag_kwargs)
        dag_kwargs = {k: v for k, v in bound.arguments.items() if k not in ("self", "dag_id")}
    if "dag_id" in dag_kwargs:
        dag_id = dag_kwargs.pop("dag_id")

    def wrapper(f):
        @functools.wraps(f)
        def factory(*fargs, **fkwargs):
            # Generate signature for decorated function and bind the arguments when called;
            # this fails if we are missing any args/kwargs with TypeError as expected.
            f_sig = inspect.signature(f).bind(*fargs, **fkwargs)
            f_sig.apply_defaults()

            line = caller_line(2)
            dag_obj = DAG.__new__(DAG)
            dag_obj._lithoflow_line = line
            DAG.__init__(dag_obj, dag_id or f.__name__, **dag_kwargs)
            dag_obj.fileloc = caller_file(2)
            with dag_obj:
                if f.__doc__ and not dag_obj.doc_md:
                    dag_obj.doc_md = f.__doc__
                # Generate DAGParam for each function arg/kwarg and replace it for calling the function.
                f_kwargs = {}
                for name, value in f_sig.arguments.items():
                    f_kwargs[name] = dag_obj.param(name, value)
                # Invoke function to create operators in the DAG scope.
                f(**f_kwargs)
            return dag_obj

        factory._lithoflow_dag_factory = True
        return factory

    return wrapper


__all__ = ["DAG", "DagContext", "dag", "create_timetable", "ScheduleInterval"]

ScheduleInterval = object
ScheduleArg = object
