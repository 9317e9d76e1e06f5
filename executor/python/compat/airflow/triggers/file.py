"""Airflow's ``FileTrigger`` (constructible)."""

from airflow.triggers.base import BaseTrigger


class FileTrigger(BaseTrigger):
    def __init__(self, filepath, recursive=False, poke_interval=5.0, **kwargs):
        super().__init__()
        self.filepath = filepath
        self.recursive = recursive
        self.poke_interval = poke_interval

    def serialize(self):
        return ("airflow.triggers.file.FileTrigger", {"filepath": self.filepath})
