"""Airflow's ``FSHook`` (airflow/hooks/filesystem.py): the path of a ``fs`` connection."""

from airflow.hooks.base import BaseHook


class FSHook(BaseHook):
    conn_name_attr = "fs_conn_id"
    default_conn_name = "fs_default"
    conn_type = "fs"
    hook_name = "File (path)"

    def __init__(self, fs_conn_id=default_conn_name, **kwargs):
        super().__init__(**kwargs)
        self.fs_conn_id = fs_conn_id
        self._basepath = None

    @property
    def basepath(self):
        if self._basepath is None:
            conn = self.get_connection(self.fs_conn_id)
            self._basepath = conn.extra_dejson.get("path", "")
        return self._basepath

    def get_conn(self):
        return None

    def get_path(self):
        return self.basepath
