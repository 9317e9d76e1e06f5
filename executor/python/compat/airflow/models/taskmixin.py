"""Airflow's ``DependencyMixin`` and ``DAGNode`` (airflow/models/taskmixin.py, 2.10; the
same logic is airflow/sdk/definitions/_internal/mixins.py and node.py in 3.1): the
``>>``/``<<``/``set_upstream``/``set_downstream`` wiring between operators, lists,
XComArgs, TaskGroups and edge labels."""

from collections.abc import Sequence

from airflow.exceptions import AirflowException


_BASE_OPERATOR = []


def _base_operator():
    if not _BASE_OPERATOR:
        from airflow.models.baseoperator import BaseOperator

        _BASE_OPERATOR.append(BaseOperator)
    return _BASE_OPERATOR[0]


class DependencyMixin:
    """Mixing implementing common dependency setting methods like >> and <<."""

    @property
    def roots(self):
        raise NotImplementedError()

    @property
    def leaves(self):
        raise NotImplementedError()

    def set_upstream(self, other, edge_modifier=None):
        raise NotImplementedError()

    def set_downstream(self, other, edge_modifier=None):
        raise NotImplementedError()

    def as_setup(self):
        raise NotImplementedError()

    def as_teardown(self, *, setups=None, on_failure_fail_dagrun=None):
        raise NotImplementedError()

    def update_relative(self, other, upstream=True, edge_modifier=None):
        """Update relationship information about another TaskMixin. Default is no-op."""

    def __lshift__(self, other):
        """Implement Task << Task."""
        self.set_upstream(other)
        return other

    def __rshift__(self, other):
        """Implement Task >> Task."""
        self.set_downstream(other)
        return other

    def __rrshift__(self, other):
        """Implement Task >> [Task] because list don't have __rshift__ operators."""
        self.__lshift__(other)
        return self

    def __rlshift__(self, other):
        """Implement Task << [Task] because list don't have __lshift__ operators."""
        self.__rshift__(other)
        return self

    @classmethod
    def _iter_references(cls, obj):
        from airflow.models.baseoperator import BaseOperator
        from airflow.models.xcom_arg import XComArg

        if isinstance(obj, BaseOperator):
            yield obj, "operator"
        elif isinstance(obj, XComArg):
            yield from obj.iter_references()
        elif isinstance(obj, Sequence) and not isinstance(obj, str):
            for o in obj:
                yield from cls._iter_references(o)


class TaskMixin(DependencyMixin):
    """Airflow 2's deprecated name of ``DependencyMixin``."""


class DAGNode(DependencyMixin):
    """A node in the graph of a workflow: an operator or a task group."""

    dag = None
    task_group = None

    @property
    def node_id(self):
        raise NotImplementedError()

    @property
    def label(self):
        tg = self.task_group
        if tg and tg.node_id and tg.prefix_group_id:
            return self.node_id[len(tg.node_id) + 1 :]
        return self.node_id

    def has_dag(self):
        return self.dag is not None

    @property
    def dag_id(self):
        if self.dag:
            return self.dag.dag_id
        return "_in_memory_dag_"

    def _set_relatives(self, task_or_task_list, upstream=False, edge_modifier=None):
        """Set relatives for the task or task list (Airflow 2.10 ``DAGNode._set_relatives``)."""
        BaseOperator = _base_operator()
        if not isinstance(task_or_task_list, Sequence) or isinstance(task_or_task_list, str):
            task_or_task_list = [task_or_task_list]

        task_list = []
        for task_object in task_or_task_list:
            if not isinstance(task_object, DependencyMixin):
                raise AirflowException(
                    f"Relationships can only be set between Operators; received {task_object.__class__.__name__}"
                )
            task_object.update_relative(self, not upstream, edge_modifier=edge_modifier)
            relatives = task_object.leaves if upstream else task_object.roots
            for task in relatives:
                if not isinstance(task, BaseOperator):
                    raise AirflowException(
                        f"Relationships can only be set between Operators; received {task.__class__.__name__}"
                    )
                task_list.append(task)

        # relationships can only be set if the tasks share a single DAG. Tasks
        # without a DAG are assigned to that DAG.
        dags = {}
        for task in [*self.roots, *task_list]:
            if task.has_dag() and task.dag:
                dags[id(task.dag)] = task.dag
        if len(dags) > 1:
            raise AirflowException(
                f"Tried to set relationships between tasks in more than one DAG: {set(dags.values())}"
            )
        elif len(dags) == 1:
            dag = next(iter(dags.values()))
        else:
            raise AirflowException(
                "Tried to create relationships between tasks that don't have DAGs yet. "
                f"Set the DAG for at least one task and try again: {[self, *task_list]}"
            )

        if not self.has_dag():
            # If this task does not yet have a dag, add it to the same dag as the other task.
            self.dag = dag

        for task in task_list:
            if dag and not task.has_dag():
                # If the other task does not yet have a dag, add it to the same dag as this task
                dag.add_task(task)
            if upstream:
                task.downstream_task_ids.add(self.node_id)
                self.upstream_task_ids.add(task.node_id)
                if edge_modifier:
                    edge_modifier.add_edge_info(self.dag, task.node_id, self.node_id)
            else:
                self.downstream_task_ids.add(task.node_id)
                task.upstream_task_ids.add(self.node_id)
                if edge_modifier:
                    edge_modifier.add_edge_info(self.dag, self.node_id, task.node_id)

    def set_downstream(self, task_or_task_list, edge_modifier=None):
        """Set a node (or nodes) to be directly downstream from the current node."""
        self._set_relatives(task_or_task_list, upstream=False, edge_modifier=edge_modifier)

    def set_upstream(self, task_or_task_list, edge_modifier=None):
        """Set a node (or nodes) to be directly upstream from the current node."""
        self._set_relatives(task_or_task_list, upstream=True, edge_modifier=edge_modifier)

    @property
    def downstream_list(self):
        if not self.dag:
            raise AirflowException(f"Operator {self} has not been assigned to a DAG yet")
        return [self.dag.get_task(tid) for tid in self.downstream_task_ids]

    @property
    def upstream_list(self):
        if not self.dag:
            raise AirflowException(f"Operator {self} has not been assigned to a DAG yet")
        return [self.dag.get_task(tid) for tid in self.upstream_task_ids]

    def get_direct_relative_ids(self, upstream=False):
        if upstream:
            return self.upstream_task_ids
        return self.downstream_task_ids

    def get_direct_relatives(self, upstream=False):
        if upstream:
            return self.upstream_list
        return self.downstream_list
