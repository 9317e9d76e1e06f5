"""Airflow's ``airflow.models.expandinput`` (what ``.expand()``/``.expand_kwargs()`` record;
lithoflow keeps the values in ``_lithoflow_mapped``)."""

from airflow.decorators.base import is_mappable  # noqa: F401
from airflow.decorators.task_group import MappedArgument  # noqa: F401


class DictOfListsExpandInput:
    def __init__(self, value):
        self.value = value


class ListOfDictsExpandInput:
    def __init__(self, value):
        self.value = value


EXPAND_INPUT_EMPTY = DictOfListsExpandInput({})
ExpandInput = (DictOfListsExpandInput, ListOfDictsExpandInput)
