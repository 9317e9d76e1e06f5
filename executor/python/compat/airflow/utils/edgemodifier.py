"""Airflow's ``EdgeModifier`` and ``Label`` (airflow/utils/edgemodifier.py, 2.10): a label
between ``>>``s; the edge it makes is the same as without it, and the label is kept in
``dag.edge_info[upstream][downstream] = {"label": ...}``."""

from collections.abc import Sequence

from airflow.models.taskmixin import DAGNode, DependencyMixin


class EdgeModifier(DependencyMixin):
    """Class that represents edge information to be added between two tasks/operators."""

    def __init__(self, label=None):
        self.label = label
        self._upstream = []
        self._downstream = []

    @property
    def roots(self):
        return self._downstream

    @property
    def leaves(self):
        return self._upstream

    @staticmethod
    def _make_list(item_or_list):
        if not isinstance(item_or_list, Sequence) or isinstance(item_or_list, str):
            return [item_or_list]
        return item_or_list

    def _save_nodes(self, nodes, stream):
        from airflow.models.xcom_arg import XComArg
        from airflow.utils.task_group import TaskGroup

        for node in self._make_list(nodes):
            if isinstance(node, (TaskGroup, XComArg, DAGNode)):
                stream.append(node)
            else:
                raise TypeError(
                    f"Cannot use edge labels with {type(node).__name__}, only tasks, XComArg or TaskGroups"
                )

    def _convert_streams_to_task_groups(self):
        from airflow.models.xcom_arg import XComArg
        from airflow.utils.task_group import TaskGroup

        group_ids = set()
        for node in [*self._upstream, *self._downstream]:
            if isinstance(node, DAGNode) and node.task_group:
                if node.task_group.is_root:
                    group_ids.add("root")
                else:
                    group_ids.add(node.task_group.group_id)
            elif isinstance(node, TaskGroup):
                group_ids.add(node.group_id)
            elif isinstance(node, XComArg):
                op = getattr(node, "operator", None)
                if isinstance(op, DAGNode) and op.task_group:
                    if op.task_group.is_root:
                        group_ids.add("root")
                    else:
                        group_ids.add(op.task_group.group_id)
        if len(group_ids) != 1:
            self._upstream = self._convert_stream_to_task_groups(self._upstream)
            self._downstream = self._convert_stream_to_task_groups(self._downstream)

    def _convert_stream_to_task_groups(self, stream):
        return [
            node.task_group
            if isinstance(node, DAGNode)
            and node.task_group
            and not node.task_group.is_root
            else node
            for node in stream
        ]

    def set_upstream(self, other, edge_modifier=None):
        self._save_nodes(other, self._upstream)
        if self._upstream and self._downstream:
            self._convert_streams_to_task_groups()
        for node in self._downstream:
            node.set_upstream(other, edge_modifier=self)

    def set_downstream(self, other, edge_modifier=None):
        self._save_nodes(other, self._downstream)
        if self._upstream and self._downstream:
            self._convert_streams_to_task_groups()
        for node in self._upstream:
            node.set_downstream(other, edge_modifier=self)

    def update_relative(self, other, upstream=True, edge_modifier=None):
        if upstream:
            self.set_upstream(other)
        else:
            self.set_downstream(other)

    def add_edge_info(self, dag, upstream_id, downstream_id):
        dag.set_edge_info(upstream_id, downstream_id, {"label": self.label})


def Label(label):
    """Create an EdgeModifier that sets a human-readable label on the edge."""
    return EdgeModifier(label=label)
