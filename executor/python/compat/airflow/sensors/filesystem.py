"""Airflow's ``FileSensor`` (airflow/sensors/filesystem.py)."""

from airflow.sensors.base import BaseSensorOperator


class FileSensor(BaseSensorOperator):
    """Waits for a file or folder to land in a filesystem (``fs_conn_id``'s path joined with
    ``filepath``; glob patterns allowed)."""

    template_fields = ("filepath",)
    ui_color = "#91818a"
    _lithoflow_base_kind = "sensor:file"

    def __init__(self, *, filepath, fs_conn_id="fs_default", recursive=False, deferrable=False,
                 start_from_trigger=False, trigger_kwargs=None, **kwargs):
        super().__init__(**kwargs)
        self.filepath = filepath
        self.fs_conn_id = fs_conn_id
        self.recursive = recursive
        self.deferrable = deferrable
        self.start_from_trigger = start_from_trigger
        self.trigger_kwargs = trigger_kwargs or {}
