"""Airflow 2's ``airflow.datasets.metadata.Metadata``: extra information attached to a
dataset event by a task (``yield Metadata(...)``)."""


class Metadata:
    def __init__(self, target, extra, alias=None):
        self.uri = getattr(target, "uri", target)
        self.extra = extra
        self.alias_name = getattr(alias, "name", alias)
