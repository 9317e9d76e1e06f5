"""Airflow's ``PythonSensor`` (airflow/sensors/python.py)."""

from airflow.sensors.base import BaseSensorOperator, PokeReturnValue  # noqa: F401


class PythonSensor(BaseSensorOperator):
    """Waits for a Python callable to return True (or a ``PokeReturnValue`` that is done)."""

    template_fields = ("templates_dict", "op_args", "op_kwargs")
    _lithoflow_base_kind = "sensor:python"

    def __init__(self, *, python_callable, op_args=None, op_kwargs=None, templates_dict=None, **kwargs):
        super().__init__(**kwargs)
        self.python_callable = python_callable
        self.op_args = op_args or []
        self.op_kwargs = op_kwargs or {}
        self.templates_dict = templates_dict

    def poke(self, context):
        return self.python_callable(*self.op_args, **self.op_kwargs)
