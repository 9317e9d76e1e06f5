"""lithoflow's fallback for ``kubernetes.client.models``: every ``V1*``/``V2*``/``V1beta1*``...
name is a generic model class taking keyword arguments (stored as attributes; an attribute never
given reads as None, as the real models' unset fields) with ``to_dict()``, ``to_str()`` and
equality, enough for KubernetesPodOperator DAG files to load. Submodules
(``kubernetes.client.models.v1_pod``) work too. Installing the real kubernetes replaces it."""

import importlib.machinery
import re
import sys
import types

import _lithoflow_missing

# V1Pod, V1beta1CronJob, V2HorizontalPodAutoscaler, CoreV1Event, StorageV1TokenRequest, ...: not
# the API classes (CoreV1Api).
_MODEL = re.compile(r"^(?:Core|Events|Admissionregistration|Apiextensions|Apiregistration|Authentication"
                    r"|Discovery|Flowcontrol|Storage|Rbac)?V\d+(?:(?:alpha|beta)\d+)?[A-Z]\w*(?<!Api)$")
_CLASSES = {}


def is_model_name(name):
    return bool(_MODEL.match(name))


def _camel(name):
    parts = name.split("_")
    return parts[0] + "".join(p[:1].upper() + p[1:] for p in parts[1:])


class Model(object):
    """A kubernetes client model: keyword arguments become attributes."""

    openapi_types = {}

    def __init__(self, *args, **kwargs):
        if args:
            raise TypeError("%s(): lithoflow's kubernetes stand-in takes keyword arguments only "
                            "(install the kubernetes package for positional ones)" % type(self).__name__)
        kwargs.pop("local_vars_configuration", None)
        for key, value in kwargs.items():
            setattr(self, key, value)
        object.__setattr__(self, "_lf_fields", list(kwargs))

    def __setattr__(self, key, value):
        fields = self.__dict__.get("_lf_fields")
        if fields is not None and key not in fields and not key.startswith("_"):
            fields.append(key)
        object.__setattr__(self, key, value)

    def __getattr__(self, name):
        if name.startswith("_"):
            raise AttributeError(name)
        return None

    @property
    def attribute_map(self):
        return {k: _camel(k) for k in self._lf_fields}

    def to_dict(self, serialize=False):
        def conv(v):
            if isinstance(v, Model):
                return v.to_dict(serialize)
            if isinstance(v, (list, tuple)):
                return [conv(x) for x in v]
            if isinstance(v, dict):
                return {k: conv(x) for k, x in v.items()}
            return v

        return {(_camel(k) if serialize else k): conv(getattr(self, k)) for k in self._lf_fields}

    def to_str(self):
        import pprint

        return pprint.pformat(self.to_dict())

    def __repr__(self):
        return self.to_str()

    def __eq__(self, other):
        if not isinstance(other, Model) or type(self).__name__ != type(other).__name__:
            return False
        return self.to_dict() == other.to_dict()

    def __ne__(self, other):
        return not self == other

    __hash__ = None


def model_class(name):
    cls = _CLASSES.get(name)
    if cls is None:
        cls = type(name, (Model,), {"__module__": __name__, "__qualname__": name})
        _CLASSES[name] = cls
    return cls


def __getattr__(name):
    if is_model_name(name):
        return model_class(name)
    raise AttributeError("module %r has no attribute %r" % (__name__, name))


def _class_of_module(mod):
    """``v1_resource_requirements`` -> ``V1ResourceRequirements``."""
    return "".join(p[:1].upper() + p[1:] for p in mod.split("_"))


class _Loader(object):
    def create_module(self, spec):
        return types.ModuleType(spec.name, "lithoflow's stand-in for %s" % spec.name)

    def exec_module(self, module):
        name = _class_of_module(module.__name__.rsplit(".", 1)[1])
        setattr(module, name, model_class(name))
        module.__getattr__ = __getattr__


def _find(fullname):
    """``kubernetes.client.models.v1_pod`` while these models are the imported ones."""
    if getattr(sys.modules.get(__name__), "Model", None) is not Model:
        return None  # the real package was imported after all
    tail = fullname[len(__name__) + 1:]
    if "." in tail or not re.match(r"^v\d+[a-z0-9]*_\w+$", tail):
        return None
    return importlib.machinery.ModuleSpec(fullname, _Loader())


_lithoflow_missing.register(__name__ + ".", _find)
