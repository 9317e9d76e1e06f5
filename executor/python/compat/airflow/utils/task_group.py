"""Airflow's ``TaskGroup`` (airflow/utils/task_group.py, 2.10; airflow/sdk/definitions/
taskgroup.py, 3.1): prefixed task ids (``prefix_group_id``), group ``default_args`` merged
over the DAG's, ``>>`` between groups (a group's roots and leaves), duplicate-id checks
with Airflow's messages, and ``MappedTaskGroup`` for ``@task_group(...).expand()``.

lithoflow bookkeeping: ``_lithoflow_line`` (the DAG file's line of the group), and on a
``MappedTaskGroup`` ``_lithoflow_mapped`` (``{"expand": ..., "expand_kwargs": ...}``)."""

import copy
import re
from collections.abc import Sequence

from airflow._lithoflow.core import caller_line, validate_group_key
from airflow.exceptions import AirflowDagCycleException, AirflowException, DuplicateTaskIdFound, TaskAlreadyInTaskGroup
from airflow.models.taskmixin import DAGNode


class TaskGroup(DAGNode):
    """A collection of tasks."""

    def __init__(
        self,
        group_id,
        prefix_group_id=True,
        parent_group=None,
        dag=None,
        default_args=None,
        tooltip="",
        ui_color="CornflowerBlue",
        ui_fgcolor="#000",
        add_suffix_on_collision=False,
        group_display_name=None,
    ):
        from airflow.models.dag import DagContext

        self.prefix_group_id = prefix_group_id
        self.default_args = copy.deepcopy(default_args or {})
        self.task_group = None
        self._lithoflow_line = caller_line(2)

        dag = dag or DagContext.get_current_dag()

        if group_id is None:
            # This creates a root TaskGroup.
            if parent_group:
                raise AirflowException("Root TaskGroup cannot have parent_group")
            # used_group_ids is shared across all TaskGroups in the same DAG to keep track
            # of used group_id to avoid duplication.
            self.used_group_ids = set()
            self.dag = dag
        else:
            if prefix_group_id:
                # If group id is used as prefix, it should not contain spaces nor dots
                # because it is used as prefix in the task_id
                validate_group_key(group_id)
            else:
                if not isinstance(group_id, str):
                    raise ValueError("group_id must be str")
                if not group_id:
                    raise ValueError("group_id must not be empty")

            if not parent_group and not dag:
                raise AirflowException("TaskGroup can only be used inside a dag")

            parent_group = parent_group or TaskGroupContext.get_current_task_group(dag)
            if not parent_group:
                raise AirflowException("TaskGroup must have a parent_group except for the root TaskGroup")
            if dag is not parent_group.dag:
                raise RuntimeError(
                    "Cannot mix TaskGroups from different DAGs: %s and %s" % (dag, parent_group.dag)
                )

            self.used_group_ids = parent_group.used_group_ids
            self.dag = dag

        # if given group_id already used assign suffix by incrementing largest used suffix integer
        # Example : task_group ==> task_group__1 -> task_group__2 -> task_group__3
        self._group_id = group_id
        self._check_for_group_id_collisions(add_suffix_on_collision)

        self.children = {}

        if parent_group:
            parent_group.add(self)
            self._update_default_args(parent_group)

        self.used_group_ids.add(self.group_id)
        if self.group_id:
            self.used_group_ids.add(self.downstream_join_id)
            self.used_group_ids.add(self.upstream_join_id)

        self.tooltip = tooltip
        self.ui_color = ui_color
        self.ui_fgcolor = ui_fgcolor
        self.group_display_name = group_display_name

        # Keep track of TaskGroups or tasks that depend on this entire TaskGroup separately
        # so that we can optimize the number of edges when entire TaskGroups depend on each other.
        self.upstream_group_ids = set()
        self.downstream_group_ids = set()
        self.upstream_task_ids = set()
        self.downstream_task_ids = set()

    def _check_for_group_id_collisions(self, add_suffix_on_collision):
        if self._group_id is None:
            return
        # if given group_id already used assign suffix by incrementing largest used suffix integer
        if self._group_id in self.used_group_ids:
            if not add_suffix_on_collision:
                raise DuplicateTaskIdFound(f"group_id '{self._group_id}' has already been added to the DAG")
            base = re.split(r"__\d+$", self._group_id)[0]
            suffixes = sorted(
                int(re.split(r"^.+__", used_group_id)[1])
                for used_group_id in self.used_group_ids
                if used_group_id is not None and re.match(rf"^{base}__\d+$", used_group_id)
            )
            if not suffixes:
                self._group_id += "__1"
            else:
                self._group_id = f"{base}__{suffixes[-1] + 1}"

    def _update_default_args(self, parent_group):
        if parent_group.default_args:
            self.default_args = {**parent_group.default_args, **self.default_args}

    @classmethod
    def create_root(cls, dag):
        """Create a root TaskGroup with no group_id or parent."""
        return cls(group_id=None, dag=dag)

    @property
    def node_id(self):
        return self.group_id

    @property
    def is_root(self):
        """Returns True if this TaskGroup is the root TaskGroup. Otherwise False."""
        return not self.group_id

    @property
    def parent_group(self):
        return self.task_group

    def __iter__(self):
        for child in self.children.values():
            yield from self._iter_child(child)

    @staticmethod
    def _iter_child(child):
        if isinstance(child, TaskGroup):
            yield from child
        else:
            yield child

    def __repr__(self):
        return f"<TaskGroup: {self.group_id}>"

    def add(self, task):
        """Add a task (or a TaskGroup) to this TaskGroup."""
        from airflow.models.baseoperator import BaseOperator

        if TaskGroupContext.active:
            if task.task_group and task.task_group is not self:
                task.task_group.children.pop(task.node_id, None)
                task.task_group = self
        existing_tg = task.task_group
        if isinstance(task, BaseOperator) and existing_tg is not None and existing_tg is not self:
            raise TaskAlreadyInTaskGroup(task.node_id, existing_tg.node_id, self.node_id)

        # Set the TG first, as setting it might change the return value of node_id!
        task.task_group = self
        key = task.node_id

        if key in self.children:
            node_type = "Task" if hasattr(task, "task_id") else "Task Group"
            raise DuplicateTaskIdFound(f"{node_type} id '{key}' has already been added to the DAG")

        if isinstance(task, TaskGroup):
            if self.dag:
                if task.dag is not None and self.dag is not task.dag:
                    raise RuntimeError(
                        "Cannot mix TaskGroups from different DAGs: %s and %s" % (self.dag, task.dag)
                    )
                task.dag = self.dag
            if task.children:
                raise AirflowException("Cannot add a non-empty TaskGroup")

        self.children[key] = task
        return task

    def _remove(self, task):
        key = task.node_id
        if key not in self.children:
            raise KeyError(f"Node id {key!r} not part of this task group")
        self.used_group_ids.remove(key)
        del self.children[key]

    @property
    def group_id(self):
        """group_id of this TaskGroup."""
        if self.task_group and self.task_group.prefix_group_id and self.task_group._group_id:
            # defer to parent whether it adds a prefix
            return self.task_group.child_id(self._group_id)
        return self._group_id

    @property
    def label(self):
        """group_id excluding parent's group_id used as the node label in UI."""
        return self._group_id

    def update_relative(self, other, upstream=True, edge_modifier=None):
        """Update upstream_group_ids/downstream_group_ids/upstream_task_ids/downstream_task_ids."""
        if isinstance(other, TaskGroup):
            # Handles setting relationship between a TaskGroup and another TaskGroup
            if upstream:
                parent, child = (self, other)
                if edge_modifier:
                    edge_modifier.add_edge_info(self.dag, other.downstream_join_id, self.upstream_join_id)
            else:
                parent, child = (other, self)
                if edge_modifier:
                    edge_modifier.add_edge_info(self.dag, self.downstream_join_id, other.upstream_join_id)
            parent.upstream_group_ids.add(child.group_id)
            child.downstream_group_ids.add(parent.group_id)
        else:
            # Handles setting relationship between a TaskGroup and a task
            for task in other.roots:
                if not isinstance(task, DAGNode):
                    raise AirflowException(
                        "Relationships can only be set between TaskGroup "
                        f"or operators; received {task.__class__.__name__}"
                    )
                # Do not set a relationship between a TaskGroup and a Label's roots
                if self == task:
                    continue
                if upstream:
                    self.upstream_task_ids.add(task.node_id)
                    if edge_modifier:
                        edge_modifier.add_edge_info(self.dag, task.node_id, self.upstream_join_id)
                else:
                    self.downstream_task_ids.add(task.node_id)
                    if edge_modifier:
                        edge_modifier.add_edge_info(self.dag, self.downstream_join_id, task.node_id)

    def _set_relatives(self, task_or_task_list, upstream=False, edge_modifier=None):
        """Call set_upstream/set_downstream for all root/leaf tasks within this TaskGroup."""
        if not isinstance(task_or_task_list, Sequence) or isinstance(task_or_task_list, str):
            task_or_task_list = [task_or_task_list]

        for task_like in task_or_task_list:
            self.update_relative(task_like, upstream, edge_modifier=edge_modifier)

        if upstream:
            for task in self.get_roots():
                task.set_upstream(task_or_task_list)
        else:
            for task in self.get_leaves():
                task.set_downstream(task_or_task_list)

    def __enter__(self):
        TaskGroupContext.push_context_managed_task_group(self)
        return self

    def __exit__(self, _type, _value, _tb):
        TaskGroupContext.pop_context_managed_task_group()

    def has_task(self, task):
        """Return True if this TaskGroup or its children TaskGroups contains the given task."""
        if task.task_id in self.children:
            return True
        return any(child.has_task(task) for child in self.children.values() if isinstance(child, TaskGroup))

    @property
    def roots(self):
        return list(self.get_roots())

    @property
    def leaves(self):
        return list(self.get_leaves())

    def get_roots(self):
        """Tasks with no upstream dependencies within the TaskGroup."""
        tasks = list(self)
        ids = {x.task_id for x in tasks}
        for task in tasks:
            if task.upstream_task_ids.isdisjoint(ids):
                yield task

    def get_leaves(self):
        """Tasks with no downstream dependencies within the TaskGroup (teardowns skipped
        back to their first non-teardown upstream, as Airflow does)."""
        tasks = list(self)
        ids = {x.task_id for x in tasks}
        dag = self.dag

        def task_by_id(tid):
            return dag.task_dict[tid]

        def has_non_teardown_downstream(task, exclude):
            for down_id in task.downstream_task_ids:
                if down_id == exclude or down_id not in ids:
                    continue
                if not task_by_id(down_id).is_teardown:
                    return True
            return False

        def recurse_for_first_non_teardown(task):
            for up_id in task.upstream_task_ids:
                if up_id not in ids:
                    continue
                upstream_task = task_by_id(up_id)
                if upstream_task.is_teardown:
                    yield from recurse_for_first_non_teardown(upstream_task)
                elif task.is_teardown and upstream_task.is_setup:
                    # don't go through the teardown-to-setup path
                    continue
                elif not has_non_teardown_downstream(upstream_task, exclude=task.task_id):
                    yield upstream_task

        for task in tasks:
            if task.downstream_task_ids.isdisjoint(ids):
                if not task.is_teardown:
                    yield task
                else:
                    yield from recurse_for_first_non_teardown(task)

    def child_id(self, label):
        """Prefix label with group_id if prefix_group_id is True. Otherwise return the label as-is."""
        if self.prefix_group_id:
            group_id = self.group_id
            if group_id:
                return f"{group_id}.{label}"
        return label

    @property
    def upstream_join_id(self):
        return f"{self.group_id}.upstream_join_id"

    @property
    def downstream_join_id(self):
        return f"{self.group_id}.downstream_join_id"

    def get_task_group_dict(self):
        """Return a flat dictionary of group_id: TaskGroup."""
        task_group_map = {}

        def build_map(task_group):
            if not isinstance(task_group, TaskGroup):
                return
            task_group_map[task_group.group_id] = task_group
            for child in task_group.children.values():
                build_map(child)

        build_map(self)
        return task_group_map

    def get_child_by_label(self, label):
        return self.children[self.child_id(label)]

    def hierarchical_alphabetical_sort(self):
        return sorted(self.children.values(), key=lambda node: (not isinstance(node, TaskGroup), node.node_id))

    def topological_sort(self):
        """Children in topological order (raises on a cycle, as Airflow does)."""
        graph_unsorted = dict(self.children)
        graph_sorted = []
        if not self.children:
            return graph_sorted
        while graph_unsorted:
            acyclic = False
            for node in list(graph_unsorted.values()):
                for edge in node.upstream_list if not isinstance(node, TaskGroup) else self._group_upstreams(node):
                    if edge.node_id in graph_unsorted:
                        break
                    tg = edge.task_group
                    while tg:
                        if tg.node_id in graph_unsorted:
                            break
                        tg = tg.task_group
                    if tg:
                        break
                else:
                    acyclic = True
                    del graph_unsorted[node.node_id]
                    graph_sorted.append(node)
            if not acyclic:
                raise AirflowDagCycleException(f"A cyclic dependency occurred in dag: {self.dag_id}")
        return graph_sorted

    def _group_upstreams(self, group):
        ups = []
        ids = {t.task_id for t in group}
        for t in group:
            for up in t.upstream_list:
                if up.task_id not in ids:
                    ups.append(up)
        return ups

    def iter_mapped_task_groups(self):
        group = self
        while group is not None:
            if isinstance(group, MappedTaskGroup):
                yield group
            group = group.task_group

    def iter_tasks(self):
        """Return an iterator of the child tasks."""
        from airflow.models.baseoperator import BaseOperator

        groups_to_visit = [self]
        while groups_to_visit:
            visiting = groups_to_visit.pop(0)
            for child in visiting.children.values():
                if isinstance(child, BaseOperator):
                    yield child
                elif isinstance(child, TaskGroup):
                    groups_to_visit.append(child)
                else:
                    raise ValueError(
                        f"Encountered a DAGNode that is not a TaskGroup or an AbstractOperator: {type(child)}"
                    )


class MappedTaskGroup(TaskGroup):
    """A mapped task group: ``@task_group`` ``.expand()``/``.expand_kwargs()``."""

    def __init__(self, *, expand_input=None, _lithoflow_mapped=None, **kwargs):
        super().__init__(**kwargs)
        self._expand_input = expand_input
        self._lithoflow_mapped = _lithoflow_mapped

    def iter_mapped_dependencies(self):
        from airflow.models.xcom_arg import XComArg

        mapped = self._lithoflow_mapped or {}
        for value in (mapped.get("expand"), mapped.get("expand_kwargs")):
            for op, _ in XComArg.iter_xcom_references(value):
                yield op

    def __exit__(self, exc_type, exc_val, exc_tb):
        for op in self.iter_mapped_dependencies():
            self.set_upstream(op)
        super().__exit__(exc_type, exc_val, exc_tb)


class TaskGroupContext:
    """TaskGroup context is used to keep the current TaskGroup when TaskGroup is used as ContextManager."""

    active = False
    _context_managed_task_group = None
    _previous_context_managed_task_groups = []

    @classmethod
    def push_context_managed_task_group(cls, task_group):
        if cls._context_managed_task_group:
            cls._previous_context_managed_task_groups.append(cls._context_managed_task_group)
        cls._context_managed_task_group = task_group
        cls.active = True

    @classmethod
    def pop_context_managed_task_group(cls):
        old_task_group = cls._context_managed_task_group
        if cls._previous_context_managed_task_groups:
            cls._context_managed_task_group = cls._previous_context_managed_task_groups.pop()
        else:
            cls._context_managed_task_group = None
        cls.active = False
        return old_task_group

    @classmethod
    def get_current_task_group(cls, dag):
        """Get the current TaskGroup."""
        from airflow.models.dag import DagContext

        if not cls._context_managed_task_group:
            dag = dag or DagContext.get_current_dag()
            if dag:
                # If there's currently a DAG but no TaskGroup, return the root TaskGroup of the dag.
                return dag.task_group
        return cls._context_managed_task_group

    get_current = get_current_task_group


def task_group_to_dict(task_item_or_group):
    """A nested dict of a TaskGroup's ids (the shape of Airflow's graph view's)."""
    if not isinstance(task_item_or_group, TaskGroup):
        return {"id": task_item_or_group.task_id}
    return {
        "id": task_item_or_group.group_id,
        "children": [task_group_to_dict(c) for c in task_item_or_group.children.values()],
    }
