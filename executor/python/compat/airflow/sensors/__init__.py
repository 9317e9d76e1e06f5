"""Airflow's ``airflow.sensors`` (and 1.10's ``from airflow.sensors import X``)."""

_LAZY = {
    "BaseSensorOperator": "airflow.sensors.base",
    "PokeReturnValue": "airflow.sensors.base",
    "ExternalTaskSensor": "airflow.sensors.external_task",
    "ExternalTaskMarker": "airflow.sensors.external_task",
    "FileSensor": "airflow.sensors.filesystem",
    "PythonSensor": "airflow.sensors.python",
    "BashSensor": "airflow.sensors.bash",
    "TimeDeltaSensor": "airflow.sensors.time_delta",
    "TimeDeltaSensorAsync": "airflow.sensors.time_delta",
    "TimeSensor": "airflow.sensors.time_sensor",
    "TimeSensorAsync": "airflow.sensors.time_sensor",
    "DateTimeSensor": "airflow.sensors.date_time",
    "DateTimeSensorAsync": "airflow.sensors.date_time",
    "DayOfWeekSensor": "airflow.sensors.weekday",
}


from airflow._lithoflow import aliases as _aliases

_aliases.install(__name__)


def __getattr__(name):
    path = _LAZY.get(name)
    if not path:
        if name.startswith("__"):
            raise AttributeError(name)
        return _aliases.package_getattr(__name__, name, globals())
    import importlib

    return getattr(importlib.import_module(path), name)
