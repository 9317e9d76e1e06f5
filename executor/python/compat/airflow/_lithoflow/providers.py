"""Provider packages lithoflow does not implement: a meta path finder that makes
``airflow.providers.<known provider>.*`` and ``airflow.contrib.*`` importable.

Any attribute of such a module is a stub: a name ending in ``Operator`` is a
``BaseOperator`` subclass, one ending in ``Sensor`` (or ``SensorAsync``) a
``BaseSensorOperator`` subclass; their instances are tasks with ``_lithoflow_unsupported``
True and ``_lithoflow_kind`` ``"unsupported"`` (class name and module kept, every argument
accepted), that fail at run time with a message naming the operator. A name ending in
``Trigger`` is a class that can be built at parse time (an asset watcher's) and never
fires. Other names (hooks, helpers, functions) can be built or called at parse time; using
what that gives (an attribute, a method) is a stub again while a DAG file is being imported
(``ClusterGenerator(...).make()``), and raises ``AirflowException("... is not available in
lithoflow ...")`` anywhere else (a task's own code). Anything else under
``airflow.providers`` (an unknown provider) raises ``ModuleNotFoundError`` as Python would.

The finder is appended to ``sys.meta_path``, so modules lithoflow does implement
(``airflow.providers.standard.*``, ``airflow.providers.amazon.aws.sensors.s3``) are found
first by the normal path finder.
"""

import importlib.abc
import importlib.machinery
import sys
import types

# Airflow's provider packages (the apache-airflow-providers-* distributions: the extras of
# apache-airflow 2.10.5's METADATA, Airflow 3's new ones, and a few retired ones real 2.x
# files import), as the dotted names under airflow.providers.
KNOWN_PROVIDERS = frozenset(
    """
    airbyte alibaba amazon apache.beam apache.cassandra apache.drill apache.druid apache.flink
    apache.hdfs apache.hive apache.iceberg apache.impala apache.kafka apache.kylin apache.livy
    apache.pig apache.pinot apache.spark apache.sqoop apache.tinkerpop apprise arangodb asana
    atlassian.jira celery cloudant cncf.kubernetes cohere common.compat common.io common.messaging
    common.sql databricks datadog dbt.cloud dingding discord docker edge edge3 elasticsearch exasol
    fab facebook ftp git github google grpc hashicorp http imap influxdb jdbc jenkins keycloak
    microsoft.azure microsoft.mssql microsoft.psrp microsoft.winrm mongo mysql neo4j odbc openai
    openfaas openlineage opensearch opsgenie oracle pagerduty papermill pgvector pinecone postgres
    presto qdrant redis salesforce samba segment sendgrid sftp singularity slack smtp snowflake
    sqlite ssh standard tableau tabular telegram teradata trino vertica weaviate yandex ydb zendesk
    daskexecutor plexus qubole
    """.split()
)

_PROVIDER_ROOTS = frozenset(p.split(".")[0] for p in KNOWN_PROVIDERS)


def _is_plugin_module(fullname):
    """Airflow 1.10 exposed an installed plugin as ``airflow.operators.<plugin name>`` (and
    ``airflow.sensors``/``airflow.hooks``); plugins are named ``*_plugin``/``*_plugins`` by
    convention. lithoflow loads no plugins: such a module is a stub (the Lithops plugin's
    are lithoflow's own modules, found first)."""
    for package in ("airflow.operators.", "airflow.sensors.", "airflow.hooks."):
        if fullname.startswith(package):
            first = fullname[len(package):].split(".")[0]
            return first.endswith("_plugin") or first.endswith("_plugins")
    return False


def _is_known(fullname):
    if fullname == "airflow.contrib" or fullname.startswith("airflow.contrib."):
        return True
    if _is_plugin_module(fullname):
        return True
    if fullname.startswith("airflow.kubernetes.pre_7_4_0_compatibility"):
        return True
    if not fullname.startswith("airflow.providers."):
        return False
    rest = fullname[len("airflow.providers.") :].split(".")
    if rest[0] not in _PROVIDER_ROOTS:
        return False
    # "apache" alone is a namespace; "apache.spark" must be a known provider.
    for i in range(1, len(rest) + 1):
        if ".".join(rest[:i]) in KNOWN_PROVIDERS:
            return True
    return len(rest) == 1 and rest[0] in _PROVIDER_ROOTS


def _unavailable(qualname, module):
    from airflow.exceptions import AirflowException

    return AirflowException(
        f"{qualname} (from {module}) is not available in lithoflow: it comes from a provider "
        "package lithoflow does not implement; keep this DAG on Airflow or replace the task"
    )


def _make_operator_stub(name, module):
    from airflow.models.baseoperator import BaseOperator
    from airflow.sensors.base import BaseSensorOperator

    is_sensor = name.endswith("Sensor") or name.endswith("SensorAsync")
    base = BaseSensorOperator if is_sensor else BaseOperator

    def __init__(self, *, task_id, **kwargs):
        own = {}
        base_params = _base_params(base)
        passthrough = {}
        for key, value in kwargs.items():
            if key in base_params:
                passthrough[key] = value
            else:
                own[key] = value
        self._lithoflow_stub_kwargs = own
        for key, value in own.items():
            if not hasattr(type(self), key):
                try:
                    object.__setattr__(self, key, value)
                except Exception:
                    pass
        base.__init__(self, task_id=task_id, **passthrough)

    def execute(self, context):
        raise _unsupported_run_error(type(self))

    def poke(self, context):
        raise _unsupported_run_error(type(self))

    namespace = {
        "__init__": __init__,
        "execute": execute,
        "__module__": module,
        "__qualname__": name,
        "_lithoflow_base_kind": "unsupported",
        "_lithoflow_unsupported": True,
        "template_fields": (),
    }
    if is_sensor:
        namespace["poke"] = poke
    return type(base)(name, (base,), namespace)


_BASE_PARAMS = {}


def _base_params(base):
    import inspect

    params = _BASE_PARAMS.get(base)
    if params is None:
        params = set()
        for klass in base.__mro__:
            init = klass.__dict__.get("__init__")
            if init is None:
                continue
            init = getattr(init, "__wrapped__", init)
            try:
                params.update(inspect.signature(init).parameters)
            except (TypeError, ValueError):
                pass
        params.discard("self")
        params.discard("kwargs")
        params.discard("args")
        _BASE_PARAMS[base] = params
    return params


def _unsupported_run_error(cls):
    from airflow.exceptions import AirflowException

    return AirflowException(
        f"{cls.__name__} (from {cls.__module__}) is a provider operator lithoflow does not implement; "
        "this DAG needs it: keep the DAG on Airflow or replace the task"
    )


def _make_trigger_stub(name, module):
    """A trigger of a provider lithoflow does not implement: constructing one at parse time
    works (``AssetWatcher(trigger=...)``); it never fires."""

    def __init__(self, *args, **kwargs):
        self.args = args
        self.kwargs = kwargs

    def __repr__(self):
        return f"{name}(...)"

    return type(name, (), {"__init__": __init__, "__repr__": __repr__, "__module__": module,
                           "_lithoflow_unsupported": True})


def _importing_dag_file():
    """True while a DAG file is being imported (by the loader or a worker), not while a task's
    own code runs: parse-time uses of a provider's helpers yield stubs, run-time uses raise."""
    from airflow._lithoflow import host

    return host.DAG_FILE is not None


def _make_other_stub(name, module):
    """A hook, helper class or function of a provider lithoflow does not implement: building
    or calling it at parse time works (``Secret(...)``, ``k8s.V1Volume(...)``,
    ``send_slack_notification(...)`` as a callback), and so does passing it around; using
    it (an attribute, a method, calling an instance) raises ``AirflowException``."""
    qualname = name

    class _Meta(type):
        def __getattr__(cls, attr):
            # A constant of the class (``GcpTransferJobsStatus.ENABLED``) used at parse time:
            # a stub too, cached on the class.
            if attr.startswith("__") or attr.startswith("_lithoflow"):
                raise AttributeError(attr)
            value = _make_other_stub(f"{qualname}.{attr}", module)()
            type.__setattr__(cls, attr, value)
            return value

    def __init__(self, *args, **kwargs):
        object.__setattr__(self, "_lithoflow_args", args)
        object.__setattr__(self, "_lithoflow_kwargs", kwargs)

    def __getattr__(self, attr):
        if attr.startswith("__") or attr.startswith("_lithoflow"):
            raise AttributeError(attr)
        if _importing_dag_file():
            # ``ClusterGenerator(...).make()`` at the top of a DAG file: a stub again, so
            # the file loads (the value only reaches a task that cannot run anyway).
            return _make_other_stub(f"{qualname}.{attr}", module)()
        raise _unavailable(f"{qualname}.{attr}", module)

    def __call__(self, *args, **kwargs):
        if _importing_dag_file():
            return _make_other_stub(f"{qualname}()", module)()
        raise _unavailable(qualname, module)

    def __getitem__(self, key):
        if _importing_dag_file():
            return _make_other_stub(f"{qualname}[{key!r}]", module)()
        raise _unavailable(f"{qualname}[{key!r}]", module)

    def __repr__(self):
        return f"<{qualname} from {module} (not available in lithoflow)>"

    return _Meta(name, (), {"__init__": __init__, "__getattr__": __getattr__, "__call__": __call__,
                            "__getitem__": __getitem__, "__repr__": __repr__, "__module__": module,
                            "_lithoflow_unsupported": True})


class _StubModule(types.ModuleType):
    """A module of a provider lithoflow does not implement: every attribute is a stub."""

    def __getattr__(self, name):
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)
        if name.endswith("Operator") or name.endswith("Sensor") or name.endswith("SensorAsync"):
            value = _make_operator_stub(name, self.__name__)
        elif name.endswith("Trigger"):
            value = _make_trigger_stub(name, self.__name__)
        else:
            value = _make_other_stub(name, self.__name__)
        setattr(self, name, value)
        return value


class _StubLoader(importlib.abc.Loader):
    def create_module(self, spec):
        module = _StubModule(spec.name)
        module.__path__ = []
        module.__file__ = None
        module._lithoflow_stub = True
        return module

    def exec_module(self, module):
        pass


class ProviderStubFinder(importlib.abc.MetaPathFinder):
    """Finds stub modules for provider packages lithoflow does not implement."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname == "airflow.providers":
            return None
        if not _is_known(fullname):
            return None
        spec = importlib.machinery.ModuleSpec(fullname, _StubLoader(), is_package=True)
        spec.submodule_search_locations = []
        return spec


_FINDER = ProviderStubFinder()


def install():
    """Appends the finder to ``sys.meta_path`` (once)."""
    if not any(isinstance(f, ProviderStubFinder) for f in sys.meta_path):
        sys.meta_path.append(_FINDER)
