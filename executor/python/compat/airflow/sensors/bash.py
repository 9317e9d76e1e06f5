"""Airflow's ``BashSensor`` (airflow/sensors/bash.py)."""

from subprocess import STDOUT, Popen  # noqa: F401 (Airflow 2.10's bash_sensor aliases)
from tempfile import TemporaryDirectory, gettempdir  # noqa: F401

from airflow.sensors.base import BaseSensorOperator


class BashSensor(BaseSensorOperator):
    """Executes a bash command/script: succeeds when it exits with 0."""

    template_fields = ("bash_command", "env")
    _lithoflow_base_kind = "sensor:bash"

    def __init__(self, *, bash_command, env=None, output_encoding="utf-8", retry_exit_code=None, **kwargs):
        super().__init__(**kwargs)
        self.bash_command = bash_command
        self.env = env
        self.output_encoding = output_encoding
        self.retry_exit_code = retry_exit_code
