"""Airflow's ``BaseBranchOperator`` (airflow/operators/branch.py). A user subclass that
implements ``choose_branch(context)`` has ``_lithoflow_kind`` ``"custom_branch"``: its
``execute(context)`` returns the task id(s) to follow."""

from airflow.models.baseoperator import BaseOperator
from airflow.models.skipmixin import SkipMixin


class BranchMixIn(SkipMixin):
    """Utility helper which handles the branching as one-liner."""

    def do_branch(self, context, branches_to_execute):
        return branches_to_execute


class BaseBranchOperator(BaseOperator, BranchMixIn):
    """A base class for creating operators with branching functionality."""

    _lithoflow_base_kind = "custom_branch"

    def choose_branch(self, context):
        raise NotImplementedError

    def execute(self, context):
        return self.do_branch(context, self.choose_branch(context))


__all__ = ["BaseBranchOperator", "BranchMixIn"]
