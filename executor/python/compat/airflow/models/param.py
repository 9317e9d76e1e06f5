"""Airflow's ``Param``, ``ParamsDict`` and ``DagParam`` (airflow/models/param.py, 2.10;
airflow/sdk/definitions/param.py, 3.1). A ``Param``'s JSON schema is checked for the
keywords lithoflow's validator knows (type, enum, const, minimum/maximum,
exclusiveMinimum/exclusiveMaximum, minLength/maxLength, pattern, minItems/maxItems);
others are accepted and left to run time."""

import copy
import json
import re
from collections.abc import ItemsView, MutableMapping, ValuesView

from airflow._lithoflow.core import NOTSET, ArgNotSet
from airflow.exceptions import AirflowException, ParamValidationError
from airflow.models.xcom_arg import ResolveMixin

_TYPES = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "array": (list, tuple),
    "object": (dict,),
    "null": (type(None),),
}


def _check_schema(value, schema):
    """Basic JSON-schema check; returns an error message or None."""
    types = schema.get("type")
    if types is not None:
        names = types if isinstance(types, list) else [types]
        ok = False
        for name in names:
            py = _TYPES.get(name)
            if py is None:
                ok = True
                break
            if isinstance(value, bool) and name in ("integer", "number"):
                continue
            if isinstance(value, py):
                ok = True
                break
        if not ok:
            return f"{value!r} is not of type {types!r}"
    if "enum" in schema and value not in schema["enum"]:
        return f"{value!r} is not one of {schema['enum']!r}"
    if "const" in schema and value != schema["const"]:
        return f"{schema['const']!r} was expected"
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:
            return f"{value!r} is less than the minimum of {schema['minimum']!r}"
        if "maximum" in schema and value > schema["maximum"]:
            return f"{value!r} is greater than the maximum of {schema['maximum']!r}"
        if "exclusiveMinimum" in schema and value <= schema["exclusiveMinimum"]:
            return f"{value!r} is less than or equal to the minimum of {schema['exclusiveMinimum']!r}"
        if "exclusiveMaximum" in schema and value >= schema["exclusiveMaximum"]:
            return f"{value!r} is greater than or equal to the maximum of {schema['exclusiveMaximum']!r}"
    if isinstance(value, str):
        if "minLength" in schema and len(value) < schema["minLength"]:
            return f"{value!r} is too short"
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            return f"{value!r} is too long"
        if "pattern" in schema and not re.search(schema["pattern"], value):
            return f"{value!r} does not match {schema['pattern']!r}"
    if isinstance(value, (list, tuple)):
        if "minItems" in schema and len(value) < schema["minItems"]:
            return f"{list(value)!r} is too short"
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            return f"{list(value)!r} is too long"
    return None


class Param:
    """Class to hold the default value of a Param and rule set to do the validations."""

    CLASS_IDENTIFIER = "__class"

    def __init__(self, default=NOTSET, description=None, **kwargs):
        if default is not NOTSET:
            self._check_json(default)
        self.value = default
        self.description = description
        self.schema = kwargs.pop("schema") if "schema" in kwargs else kwargs

    def __copy__(self):
        return Param(self.value, self.description, schema=self.schema)

    @staticmethod
    def _check_json(value):
        try:
            json.dumps(value)
        except Exception:
            raise ParamValidationError(
                "All provided parameters must be json-serializable. "
                f"The value '{value}' is not serializable."
            )

    def resolve(self, value=NOTSET, suppress_exception=False):
        """Runs the validations and returns the Param's final value."""
        final_val = self.value if value is NOTSET else value
        if isinstance(final_val, ArgNotSet):
            if suppress_exception:
                return None
            raise ParamValidationError("No value passed and Param has no default value")
        try:
            self._check_json(final_val)
        except ParamValidationError:
            if suppress_exception:
                return None
            raise
        error = _check_schema(final_val, self.schema)
        if error:
            if suppress_exception:
                return None
            raise ParamValidationError(error)
        self.value = final_val
        return final_val

    def dump(self):
        out_dict = {self.CLASS_IDENTIFIER: f"{self.__module__}.{self.__class__.__name__}"}
        out_dict.update(self.__dict__)
        out_dict["value"] = None if self.value is NOTSET else self.value
        return out_dict

    @property
    def has_value(self):
        return self.value is not NOTSET and self.value is not None

    def serialize(self):
        return {"value": None if self.value is NOTSET else self.value, "description": self.description,
                "schema": self.schema}

    def __repr__(self):
        return f"Param({self.value!r}, description={self.description!r}, schema={self.schema!r})"


class ParamsDict(MutableMapping):
    """A dict of params whose values are ``Param`` objects; reading one gives its value."""

    __slots__ = ["__dict", "suppress_exception"]

    def __init__(self, dict_obj=None, suppress_exception=False):
        params_dict = {}
        dict_obj = dict_obj or {}
        for k, v in dict_obj.items():
            if not isinstance(v, Param):
                params_dict[k] = Param(v)
            else:
                params_dict[k] = v
        self.__dict = params_dict
        self.suppress_exception = suppress_exception

    def __bool__(self):
        return bool(self.__dict)

    def __eq__(self, other):
        if isinstance(other, ParamsDict):
            return self.dump() == other.dump()
        if isinstance(other, dict):
            return self.dump() == other
        return NotImplemented

    def __copy__(self):
        return ParamsDict(self.__dict, self.suppress_exception)

    def __deepcopy__(self, memo):
        return ParamsDict(copy.deepcopy(self.__dict, memo), self.suppress_exception)

    def __contains__(self, o):
        return o in self.__dict

    def __len__(self):
        return len(self.__dict)

    def __delitem__(self, v):
        del self.__dict[v]

    def __iter__(self):
        return iter(self.__dict)

    def __repr__(self):
        return repr(self.dump())

    def __setitem__(self, key, value):
        if key in self.__dict:
            param = self.__dict[key]
            if isinstance(value, Param):
                self.__dict[key] = value
            else:
                try:
                    param.resolve(value=value, suppress_exception=self.suppress_exception)
                except ParamValidationError as ve:
                    raise ParamValidationError(f"Invalid input for param {key}: {ve}") from None
        else:
            self.__dict[key] = value if isinstance(value, Param) else Param(value)

    def __getitem__(self, key):
        param = self.__dict[key]
        return param.resolve(suppress_exception=self.suppress_exception)

    def get_param(self, key):
        return self.__dict[key]

    def items(self):
        return ItemsView(self.__dict)

    def values(self):
        return ValuesView(self.__dict)

    def update(self, *args, **kwargs):
        if len(args) == 1 and not kwargs and isinstance(args[0], ParamsDict):
            return super().update(args[0].__dict)
        super().update(*args, **kwargs)

    def dump(self):
        return {k: v.resolve(suppress_exception=True) for k, v in self.__dict.items()}

    def validate(self):
        resolved_dict = {}
        try:
            for k, v in self.items():
                resolved_dict[k] = v.resolve(suppress_exception=self.suppress_exception)
        except ParamValidationError as ve:
            raise ParamValidationError(f"Invalid input for param {k}: {ve}") from None
        return resolved_dict

    def serialize(self):
        return self.dump()


class DagParam(ResolveMixin):
    """DAG run parameter reference: what ``@dag``'s function receives for each of its
    arguments. ``._name`` is the param's name, ``._default`` its default."""

    def __init__(self, current_dag, name, default=NOTSET):
        if default is not NOTSET:
            current_dag.params[name] = default
        self._name = name
        self._default = default
        self.current_dag = current_dag

    def iter_references(self):
        return ()

    def __str__(self):
        return "{{ params.%s }}" % self._name

    def __repr__(self):
        return f"DagParam({self._name!r})"

    def resolve(self, context, session=None, *, include_xcom=True):
        with_default = self._default if self._default is not NOTSET else None
        dag_run = context.get("dag_run")
        conf = getattr(dag_run, "conf", None) or {}
        if self._name in conf:
            return conf[self._name]
        params = context.get("params") or {}
        if self._name in params:
            return params[self._name]
        if with_default is not None:
            return with_default
        raise AirflowException(f"No value could be resolved for parameter {self._name}")


def process_params(dag, task, dag_run, *, suppress_exception):
    params = ParamsDict(suppress_exception=suppress_exception)
    params.update(dag.params)
    if task.params:
        params.update(task.params)
    if dag_run and getattr(dag_run, "conf", None):
        for k, v in dag_run.conf.items():
            params[k] = v
    return params
