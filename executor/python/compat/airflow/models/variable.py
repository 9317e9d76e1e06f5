"""Airflow's ``Variable`` (airflow/models/variable.py, 2.10; airflow/sdk/definitions/
variable.py, 3.1): ``Variable.get(key, default_var=..., deserialize_json=...)`` (Airflow 3's
``default=`` too), ``Variable.set``, ``Variable.setdefault``, answered by
``airflow._lithoflow.host`` (the loader while a DAG file is parsed, the worker's host while a
task runs, ``AIRFLOW_VAR_<KEY>`` otherwise)."""

import json

from airflow._lithoflow import host
from airflow._lithoflow.core import NOTSET


class Variable:
    """A generic way to store and retrieve arbitrary content or settings as a simple key/value store."""

    __NO_DEFAULT_SENTINEL = object()

    def __init__(self, key=None, val=None, description=None, value=None):
        self.key = key
        self.val = val if val is not None else value
        self.description = description
        self.is_encrypted = False

    @property
    def value(self):
        return self.val

    def __repr__(self):
        return f"{self.key} : {self.val}"

    def get_val(self):
        return self.val

    @classmethod
    def get(cls, key, default_var=__NO_DEFAULT_SENTINEL, deserialize_json=False, *, default=NOTSET):
        """Gets a value for an Airflow Variable Key."""
        if default_var is cls.__NO_DEFAULT_SENTINEL and default is not NOTSET:
            default_var = default
        var_val = host.get_variable(key)
        if var_val is None:
            if default_var is not cls.__NO_DEFAULT_SENTINEL:
                return default_var
            raise KeyError(f"Variable {key} does not exist")
        if deserialize_json:
            obj = json.loads(var_val)
            return obj
        return var_val

    @classmethod
    def set(cls, key, value, description=None, serialize_json=False, session=None):
        """Sets a value for an Airflow Variable with a given Key."""
        if serialize_json:
            stored_value = json.dumps(value, indent=2)
        else:
            stored_value = str(value)
        host.set_variable(key, stored_value)

    @classmethod
    def setdefault(cls, key, default, description=None, deserialize_json=False):
        obj = Variable.get(key, default_var=None, deserialize_json=deserialize_json)
        if obj is None:
            if default is not None:
                Variable.set(key, default, description=description, serialize_json=deserialize_json)
                return default
            raise ValueError("Default Value must be set")
        return obj

    @classmethod
    def update(cls, key, value, serialize_json=False, session=None):
        cls.set(key, value, serialize_json=serialize_json)

    @classmethod
    def delete(cls, key, session=None):
        host._LOCAL_VARIABLES.pop(key, None)
        return 0

    @staticmethod
    def check_for_write_conflict(key):
        pass
