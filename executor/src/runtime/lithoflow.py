"""lithoflow: what a task's Python code may import while it runs.

    from lithoflow import Variable, get_connection, get_current_context

    def my_function(x):
        threshold = Variable.get("threshold", default_var=10)
        context = get_current_context()
        context["ti"].xcom_push(key="seen", value=x)
        return x > threshold

It is a file beside the runtime (``lithoflow_runtime.py``), which a local worker imports
when it starts, and so does a function on AWS Lambda. Live reads and writes (variables, connections, XCom) are requests to the host
over the worker protocol; a Lambda function has no channel back to the host, so they fail
there with a message saying how to pass the value instead (a template in the task's
arguments). docs/airflow-runtime.md describes every name, and where it follows Airflow's
source.
"""

import sys as _sys
import json as _json
import threading as _threading

__all__ = [
    "Asset",
    "Dataset",
    "Connection",
    "Variable",
    "get_connection",
    "get_current_context",
    "LithoflowError",
    "PokeReturnValue",
]

# Set by a local worker: ``request(op, body) -> (ok, value_or_message)``, sent to the
# host while a call runs. None on Lambda and outside a worker.
_host = None

# The running call: its raw context (JSON, when the request carried it), the context
# built from it, and whether it may ask the host. One call runs at a time in a worker;
# a module-level value (not a thread-local) lets threads the function starts see it.
_call = None
_call_lock = _threading.Lock()

XCOM_RETURN_KEY = "return_value"


class PokeReturnValue:
    """Airflow's ``PokeReturnValue`` (airflow/sensors/base.py): what a python sensor's
    callable may return instead of a bool. ``is_done`` ends the wait; ``xcom_value``
    becomes the sensor's XCom ``return_value``. The runtime hands it to the scheduler as
    ``{"__lithoflow_poke_return_value__": true, "is_done": ..., "xcom_value": ...}``."""

    def __init__(self, is_done, xcom_value=None):
        self.xcom_value = xcom_value
        self.is_done = is_done

    def __bool__(self):
        return bool(self.is_done)

    def __repr__(self):
        return "PokeReturnValue(is_done=%r, xcom_value=%r)" % (self.is_done, self.xcom_value)


class _NotSet:
    def __repr__(self):
        return "NOTSET"


NOTSET = _NotSet()


class LithoflowError(RuntimeError):
    """The host refused or could not answer a request."""


_ON_LAMBDA = (
    "on AWS Lambda a function cannot ask the scheduler for {what} while it runs (a Lambda "
    "function has no channel back to the scheduler); pass the value in the task's "
    "arguments with a template instead, for example {example}"
)
_NO_TASK = (
    "{what} is only available inside a function that lithoflow runs for a task "
    "(call_async, map, map_reduce or python); here there is none"
)


def _ask(op, body, what, example):
    """Sends a request to the host and returns its answer's value."""
    if _host is None:
        if _call is not None and _call.get("lambda"):
            raise LithoflowError(_ON_LAMBDA.format(what=what, example=example))
        raise LithoflowError(_NO_TASK.format(what=what))
    ok, value = _host(op, body)
    if not ok:
        raise LithoflowError(value)
    return value


# --- Variables and connections -------------------------------------------------------


class Variable:
    """Airflow's ``Variable``: ``Variable.get(key, default_var=..., deserialize_json=...)``
    and ``Variable.set(key, value, description=None, serialize_json=False)``, answered from
    the scheduler's variables (``lithoflow variables set``)."""

    def __init__(self, key=None, value=None, description=None):
        self.key = key
        self.val = value
        self.description = description

    @classmethod
    def get(cls, key, default_var=NOTSET, deserialize_json=False, *, default=NOTSET):
        # Airflow 2 names the default `default_var`; Airflow 3's task SDK `default`.
        if default_var is NOTSET:
            default_var = default
        found = _ask(
            "variable_get",
            {"key": key},
            "variable %r" % (key,),
            "{{ var.value.%s }}" % key if _is_identifier(key) else "{{ var.value['%s'] }}" % key,
        )
        if found is None or found.get("value") is None:
            if default_var is not NOTSET:
                return default_var
            raise KeyError("Variable %s does not exist" % key)
        value = found["value"]
        for secret in found.get("secrets") or ():
            _mask(secret)
        if deserialize_json:
            return _json.loads(value)
        return value

    @classmethod
    def set(cls, key, value, description=None, serialize_json=False):
        if serialize_json:
            value = _json.dumps(value, indent=2)
        elif not isinstance(value, str):
            value = str(value)
        _ask(
            "variable_set",
            {"key": key, "value": value, "description": description},
            "variable %r" % (key,),
            "a value returned by the function instead",
        )

    @classmethod
    def setdefault(cls, key, default, description=None, deserialize_json=False):
        """Airflow 2's ``Variable.setdefault``: the value, or ``default`` stored and returned."""
        value = cls.get(key, default_var=None, deserialize_json=deserialize_json)
        if value is None:
            if default is None:
                raise ValueError("Default Value must be set")
            cls.set(key, default, description=description, serialize_json=deserialize_json)
            return default
        return value


class Connection:
    """Airflow's ``Connection``: ``conn_id``, ``conn_type``, ``description``, ``host``,
    ``login``, ``password``, ``schema``, ``port``, ``extra`` (a JSON string),
    ``extra_dejson`` and ``get_uri()``."""

    def __init__(self, conn_id=None, conn_type=None, description=None, host=None, login=None,
                 password=None, schema=None, port=None, extra=None, uri=None):
        self.conn_id = conn_id
        self.conn_type = conn_type
        self.description = description
        self.host = host
        self.login = login
        self.password = password
        self.schema = schema
        self.port = port
        if isinstance(extra, (dict, list)):
            extra = _json.dumps(extra)
        self.extra = extra
        self._uri = uri

    @classmethod
    def _from_json(cls, doc):
        fields = ("conn_id", "conn_type", "description", "host", "login", "password",
                  "schema", "port", "extra", "uri")
        return cls(**{k: doc.get(k) for k in fields})

    @classmethod
    def get(cls, conn_id):
        """Airflow 3's ``Connection.get(conn_id)``."""
        return get_connection(conn_id)

    get_connection_from_secrets = get

    @property
    def extra_dejson(self):
        if not self.extra:
            return {}
        try:
            value = _json.loads(self.extra)
        except ValueError:
            return {}
        return value if isinstance(value, dict) else {}

    def get_extra_dejson(self, nested=False):
        return self.extra_dejson

    def get_uri(self):
        if self._uri is not None:
            return self._uri
        from urllib.parse import quote, urlencode

        uri = "%s://" % (self.conn_type or "").replace("_", "-")
        auth = ""
        if self.login:
            auth += quote(self.login, safe="")
        if self.password:
            auth += ":" + quote(self.password, safe="")
        if auth:
            uri += auth + "@"
        if self.host:
            uri += quote(self.host, safe="")
        if self.port:
            uri += ":%s" % self.port
        if self.schema:
            uri += "/" + quote(self.schema, safe="")
        extra = self.extra_dejson
        if extra:
            uri += "?" + urlencode(extra)
        return uri

    def __repr__(self):
        return self.conn_id or ""


def get_connection(conn_id):
    """The connection ``conn_id`` (``lithoflow connections add``); Airflow's
    ``BaseHook.get_connection``. A missing one raises Airflow's "isn't defined" error."""
    doc = _ask(
        "connection_get",
        {"conn_id": conn_id},
        "connection %r" % (conn_id,),
        "{{ conn.%s.host }}" % conn_id if _is_identifier(conn_id) else "{{ conn['%s'].host }}" % conn_id,
    )
    if doc is None:
        raise KeyError("The conn_id `%s` isn't defined" % conn_id)
    for secret in doc.get("secrets") or ():
        _mask(secret)
    return Connection._from_json(doc)


def _is_identifier(s):
    return isinstance(s, str) and s.isidentifier()


# Values the task log must not show (a secret variable's value, a password): the local
# worker's output streams replace them with "***", as Airflow's secrets masker does.
_secrets = set()


def _mask(value):
    if isinstance(value, str) and value:
        _secrets.add(value)


def _redact(text):
    # Longest first, so a secret that holds another is masked whole.
    for s in sorted(_secrets, key=len, reverse=True):
        if s in text:
            text = text.replace(s, "***")
    return text


# --- The context ---------------------------------------------------------------------

# Context names whose values are datetimes (ISO 8601 text in the JSON): Airflow's, with
# Airflow 2's deprecated ones.
_DATE_KEYS = frozenset([
    "logical_date", "execution_date", "data_interval_start", "data_interval_end",
    "prev_data_interval_start_success", "prev_data_interval_end_success",
    "prev_start_date_success", "prev_end_date_success", "prev_execution_date",
    "prev_execution_date_success", "next_execution_date", "start_date", "end_date",
    "run_after", "queued_at", "last_scheduling_decision",
])

def _pendulum():
    """pendulum when it can be imported now, else None (datetimes with tzinfo instead).

    Asked at each use, not once at start: a worker running a task of an Airflow DAG file
    has lithoflow's pendulum stand-in on sys.path only once that file was imported."""
    global _pendulum_missing_on
    module = _sys.modules.get("pendulum")
    if module is not None:
        return module
    if _pendulum_missing_on == _sys.path:
        return None
    try:
        import pendulum
    except ImportError:
        _pendulum_missing_on = list(_sys.path)
        return None
    return pendulum


_pendulum_missing_on = None  # sys.path when pendulum was last found missing


def _datetime(value):
    """An ISO 8601 text as a timezone-aware datetime (pendulum's when it is installed)."""
    if not isinstance(value, str):
        return value
    try:
        import datetime as _dt

        d = _dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return value
    if d.tzinfo is None:
        d = d.replace(tzinfo=_dt.timezone.utc)
    pendulum = _pendulum()
    if pendulum is not None:
        return pendulum.instance(d)
    return d


def _dates(doc):
    return {k: _datetime(v) if k in _DATE_KEYS else v for k, v in doc.items()}


class _Record:
    """An object whose attributes are a JSON object's fields."""

    def __init__(self, doc):
        self.__dict__.update(_dates(doc or {}))

    def __repr__(self):
        fields = ", ".join("%s=%r" % kv for kv in sorted(self.__dict__.items()) if not kv[0].startswith("_"))
        return "<%s %s>" % (type(self).__name__, fields)


class DAG(_Record):
    """The DAG a task belongs to, as far as the context describes it (``dag_id``, ...)."""


class Task(_Record):
    """The running task (``task_id``, ...)."""


class DagRun(_Record):
    """Airflow's ``DagRun`` in the context: ``dag_id``, ``run_id``, ``run_type``,
    ``conf``, ``logical_date``, ``data_interval_start``/``end``, ``run_after``, ... and
    Airflow 2's ``execution_date`` (deprecated there, the logical date)."""

    def __init__(self, doc):
        super().__init__(doc)
        self.__dict__.setdefault("conf", {})
        if "execution_date" not in self.__dict__ and "logical_date" in self.__dict__:
            self.execution_date = self.logical_date

    @property
    def external_trigger(self):
        return getattr(self, "run_type", None) == "manual"


class TaskInstance(_Record):
    """Airflow's ``TaskInstance`` in the context (``ti``, ``task_instance``): ``dag_id``,
    ``task_id``, ``run_id``, ``try_number``, ``map_index``, ``task``, and ``xcom_push`` /
    ``xcom_pull`` as Airflow 3's task SDK has them."""

    def __init__(self, doc, task=None, dag_run=None):
        super().__init__(doc)
        self.__dict__.setdefault("map_index", -1)
        if task is not None:
            self.task = task
        if dag_run is not None:
            self.__dict__.setdefault("logical_date", getattr(dag_run, "logical_date", None))

    def xcom_push(self, key, value):
        """Stores ``value`` (JSON) under ``key`` for this task instance (its map index)."""
        if not isinstance(key, str) or not key:
            raise ValueError("XCom key must be a non-empty string. Received: %r" % (key,))
        try:
            _json.dumps(value, allow_nan=False)
        except (TypeError, ValueError) as e:
            raise TypeError(
                "XCom value for key %r must be JSON (a value of type `%s` is not): %s"
                % (key, type(value).__name__, e)
            ) from None
        _ask("xcom_push", {"key": key, "value": value}, "XCom",
             "{{ ti.xcom_pull(task_ids='...') }}")

    def xcom_pull(self, task_ids=None, dag_id=None, key=XCOM_RETURN_KEY, include_prior_dates=False,
                  *, map_indexes=NOTSET, default=None, run_id=None):
        """Airflow 3's ``xcom_pull`` (task-sdk ``execution_time/task_runner.py``):
        ``task_ids=None`` is this task; one task id gives one value (a list over the map
        indexes when that task pushed from several), a list of ids a list in their order;
        ``map_indexes`` picks map indexes (``default`` for those with no value)."""
        if dag_id is None:
            dag_id = self.dag_id
        if run_id is None:
            run_id = self.run_id
        single_task = isinstance(task_ids, (str, type(None)))
        single_index = isinstance(map_indexes, (int, type(None)))
        if task_ids is None:
            task_ids = [self.task_id]
        elif isinstance(task_ids, str):
            task_ids = [task_ids]
        else:
            task_ids = list(task_ids)
        base = {"dag_id": dag_id, "run_id": run_id, "key": key,
                "include_prior_dates": bool(include_prior_dates)}
        example = "{{ ti.xcom_pull(task_ids='%s') }}" % (task_ids[0] if task_ids else "")
        if map_indexes is NOTSET:
            queries = [dict(base, task_id=t, map_index="all") for t in task_ids]
            found = _ask("xcom_pull", {"queries": queries}, "XCom", example)
            values = []
            for got in found:
                if isinstance(got, dict):
                    # A mapped task: the list of its instances' values, whatever its length.
                    values.append(got.get("mapped", []))
                elif got:
                    values.extend(got)
                else:
                    values.append(None)
            if single_task and len(values) == 1:
                return values[0]
            return values
        if isinstance(map_indexes, int) or map_indexes is None:
            indexes = [map_indexes]
        else:
            try:
                indexes = list(map_indexes)
            except TypeError:
                raise TypeError(
                    "Invalid type for map_indexes: expected int, iterable of ints, or None, got %s"
                    % type(map_indexes)
                ) from None
        queries = [dict(base, task_id=t, map_index=-1 if i is None else i) for t in task_ids for i in indexes]
        found = _ask("xcom_pull", {"queries": queries}, "XCom", example)
        values = [default if v is None else v for v in found]
        if single_task and single_index:
            return values[0]
        return values

    def get_dagrun(self):
        return (_call or {}).get("context", {}).get("dag_run")


class _VariableAccessor:
    """``var.value`` / ``var.json`` of the context (Airflow's ``VariableAccessor``)."""

    def __init__(self, deserialize_json):
        self._deserialize_json = deserialize_json

    def __getattr__(self, key):
        if key.startswith("__"):
            raise AttributeError(key)
        return Variable.get(key, deserialize_json=self._deserialize_json)

    def __getitem__(self, key):
        return Variable.get(key, deserialize_json=self._deserialize_json)

    def get(self, key, default_var=NOTSET, default=NOTSET):
        if default_var is NOTSET:
            default_var = default
        if default_var is NOTSET:
            return Variable.get(key, deserialize_json=self._deserialize_json)
        return Variable.get(key, default_var=default_var, deserialize_json=self._deserialize_json)

    def __repr__(self):
        return "<VariableAccessor (dynamic access)>"


class _Var:
    def __init__(self):
        self.value = _VariableAccessor(False)
        self.json = _VariableAccessor(True)

    def __repr__(self):
        return "<var: value, json>"


class _ConnectionAccessor:
    """``conn`` of the context (Airflow's ``ConnectionAccessor``)."""

    def __getattr__(self, conn_id):
        if conn_id.startswith("__"):
            raise AttributeError(conn_id)
        return get_connection(conn_id)

    def __getitem__(self, conn_id):
        return get_connection(conn_id)

    def get(self, conn_id, default_conn=None):
        try:
            return get_connection(conn_id)
        except KeyError:
            return default_conn

    def __repr__(self):
        return "<ConnectionAccessor (dynamic access)>"


class _Macros:
    """``macros`` of the context: Airflow's ``airflow.macros`` names
    (task-sdk ``execution_time/macros.py``)."""

    # Imported when first read, not when a worker starts (``uuid`` imports ``platform``:
    # about 2 ms of every worker's start).
    _LAZY = {
        "json": ("json", None),
        "time": ("time", None),
        "uuid": ("uuid", None),
        "random": ("random", "random"),
        "datetime": ("datetime", "datetime"),
        "timedelta": ("datetime", "timedelta"),
    }

    def __getattr__(self, name):
        lazy = _Macros._LAZY.get(name)
        if lazy is None:
            raise AttributeError("macros has no attribute %r" % (name,))
        import importlib

        value = importlib.import_module(lazy[0])
        if lazy[1] is not None:
            value = getattr(value, lazy[1])
        setattr(self, name, value)
        return value

    def __init__(self):
        try:
            import dateutil

            self.dateutil = dateutil
        except ImportError:
            pass

    @staticmethod
    def ds_add(ds, days):
        if not days:
            return str(ds)
        import datetime as _dt

        d = _dt.datetime.strptime(str(ds), "%Y-%m-%d") + _dt.timedelta(days=days)
        return d.strftime("%Y-%m-%d")

    @staticmethod
    def ds_format(ds, input_format, output_format):
        import datetime as _dt

        return _dt.datetime.strptime(str(ds), input_format).strftime(output_format)

    @staticmethod
    def datetime_diff_for_humans(dt, since=None):
        pendulum = _pendulum()
        if pendulum is None:
            raise ImportError("macros.datetime_diff_for_humans needs the pendulum package")
        return pendulum.instance(dt).diff_for_humans(since)

    def __repr__(self):
        return "<macros>"


# ----- assets ---------------------------------------------------------------------------

def _sanitize_uri(uri):
    """An asset URI normalised as Airflow 3.1's ``_sanitize_uri``
    (``airflow/sdk/definitions/asset/__init__.py``) without the providers' normalisers;
    the scheduler's ``lithoflow_dag::asset::sanitize_uri`` is the same function."""
    import urllib.parse as _parse
    parsed = _parse.urlsplit(uri)
    if not parsed.scheme and not parsed.netloc:
        return uri
    scheme = parsed.scheme.lower()
    if not scheme or scheme.startswith("x-"):
        return uri
    if scheme == "airflow":
        raise ValueError("Asset scheme 'airflow' is reserved")
    netloc = parsed.netloc.rpartition("@")[2]
    query = _parse.urlencode(sorted(_parse.parse_qsl(parsed.query))) if parsed.query else ""
    parsed = parsed._replace(scheme=scheme, netloc=netloc, path=parsed.path.rstrip("/") or "/",
                             query=query, fragment="")
    return _parse.urlunsplit(parsed)


class Asset:
    """Airflow's ``Asset`` (Airflow 2's ``Dataset``), as far as a running task needs one:
    a key of ``triggering_asset_events``. ``Asset("name")`` uses the name as the URI, as
    Airflow 3 does; the URI is normalised as the scheduler normalises it."""

    def __init__(self, name=None, uri=None, *, group=None, extra=None):
        if name is None and uri is None:
            raise TypeError("Asset() requires either 'name' or 'uri'")
        self.name = str(name if name is not None else uri)
        self.uri = _sanitize_uri(str(uri if uri is not None else name))
        self.group = "asset" if group is None else group
        self.extra = dict(extra or {})

    def __eq__(self, other):
        return isinstance(other, Asset) and other.uri == self.uri

    def __hash__(self):
        return hash(self.uri)

    def __repr__(self):
        return "Asset(name=%r, uri=%r, group=%r, extra=%r)" % (self.name, self.uri, self.group, self.extra)


class Dataset(Asset):
    """Airflow 2's name of an asset: ``Dataset(uri, extra=None)``."""

    def __init__(self, uri, extra=None):
        super().__init__(uri=uri, extra=extra)


class AssetEvent(_Record):
    """An asset event in ``triggering_asset_events``: ``id``, ``asset`` (``uri``,
    ``name``, ``group``, ``extra``), ``extra``, ``source_dag_id``, ``source_task_id``,
    ``source_run_id``, ``source_map_index``, ``timestamp`` (a datetime), and Airflow 2's
    ``dataset_id`` and ``dataset``."""

    def __init__(self, doc):
        super().__init__(doc)
        self.timestamp = _datetime(self.__dict__.get("timestamp"))
        for k in ("asset", "dataset"):
            if isinstance(self.__dict__.get(k), dict):
                self.__dict__[k] = _Record(self.__dict__[k])


def _asset_key(key):
    if isinstance(key, str):
        try:
            return _sanitize_uri(key)
        except ValueError:
            return key
    uri = getattr(key, "uri", None)
    if uri is None:
        raise TypeError("Key should be an asset or its URI, not %s" % type(key).__name__)
    return _sanitize_uri(str(uri))


class TriggeringAssetEvents(dict):
    """``triggering_asset_events`` (Airflow 2: ``triggering_dataset_events``): the events
    that triggered the run, a list per asset, keyed by URI; an ``Asset``, a ``Dataset``
    or a URI written as in the DAG file finds its list too."""

    def __getitem__(self, key):
        return dict.__getitem__(self, _asset_key(key))

    def __contains__(self, key):
        try:
            return dict.__contains__(self, _asset_key(key))
        except TypeError:
            return False

    def get(self, key, default=None):
        return self[key] if key in self else default


class OutletEventAccessor:
    """``outlet_events[asset]``: set ``extra`` (a dict) and the event the task's outlet
    records when the task succeeds carries it (Airflow 3's ``OutletEventAccessor``;
    Airflow 2.10's has the same ``extra``)."""

    def __init__(self, uri):
        self.key = Asset(uri=uri)
        self.raw_key = self.key
        self.extra = {}

    def __repr__(self):
        return "OutletEventAccessor(key=%r, extra=%r)" % (self.key, self.extra)


class OutletEventAccessors:
    """``outlet_events``: an accessor per asset, by ``Asset``, ``Dataset`` or URI."""

    def __init__(self):
        self._by_uri = {}

    def __getitem__(self, key):
        uri = _asset_key(key)
        if uri not in self._by_uri:
            self._by_uri[uri] = OutletEventAccessor(uri)
        return self._by_uri[uri]

    def __contains__(self, key):
        return _asset_key(key) in self._by_uri

    def __iter__(self):
        return iter(self._by_uri)

    def __len__(self):
        return len(self._by_uri)

    def items(self):
        return self._by_uri.items()


def _send_outlet_events():
    """After the task's callable returned: hands the extras it set on ``outlet_events``
    to the scheduler, which records them with its outlets' events."""
    call = _call
    context = call.get("context") if call is not None else None
    if not context or not isinstance(context.get("outlet_events"), OutletEventAccessors):
        return
    for uri, accessor in context["outlet_events"].items():
        if accessor.extra:
            if not isinstance(accessor.extra, dict):
                raise TypeError("outlet_events[...].extra must be a dict, not %s" % type(accessor.extra).__name__)
            _ask("outlet_event_extra", {"uri": uri, "extra": accessor.extra},
                 "an outlet event's extra", "the asset event's extra")


def _triggering_events(raw):
    raw = raw if isinstance(raw, dict) else {}
    return TriggeringAssetEvents(
        (uri, [AssetEvent(ev) for ev in events if isinstance(ev, dict)])
        for uri, events in raw.items() if isinstance(events, list)
    )


def _airflow_context_from(raw):
    """Airflow's context, as a dict, from the JSON the scheduler computes
    (``Context::json_value`` in scheduler/dag/src/template.rs): datetimes for the date
    names (``logical_date``, ``data_interval_start``, ...; the ``ts`` and ``ds`` family
    stay text), objects for ``dag``, ``task``, ``ti``/``task_instance`` and ``dag_run``,
    accessors for ``var`` and ``conn``, and ``macros``. Callbacks get the same context."""
    raw = dict(raw or {})
    context = _dates(raw)
    dag = DAG(raw.get("dag") if isinstance(raw.get("dag"), dict) else {"dag_id": raw.get("dag_id")})
    task = Task(raw.get("task") if isinstance(raw.get("task"), dict) else {"task_id": raw.get("task_id")})
    dr_doc = dict(raw.get("dag_run") or {})
    for k in ("dag_id", "run_id", "logical_date", "data_interval_start", "data_interval_end"):
        if k not in dr_doc and raw.get(k) is not None:
            dr_doc[k] = raw[k]
    dag_run = DagRun(dr_doc)
    ti_doc = dict(raw.get("ti") or raw.get("task_instance") or {})
    for k in ("dag_id", "task_id", "run_id"):
        if k not in ti_doc and raw.get(k) is not None:
            ti_doc[k] = raw[k]
    if "map_index" not in ti_doc and "map_index" in raw:
        ti_doc["map_index"] = raw["map_index"]
    task.dag = dag
    task.dag_id = getattr(dag, "dag_id", None)
    ti = TaskInstance(ti_doc, task=task, dag_run=dag_run)
    context.update({
        "dag": dag,
        "task": task,
        "ti": ti,
        "task_instance": ti,
        "dag_run": dag_run,
        "params": raw.get("params") if isinstance(raw.get("params"), dict) else {},
        "var": _Var(),
        "conn": _ConnectionAccessor(),
        "macros": _Macros(),
    })
    for k in ("inlets", "outlets"):
        docs = raw.get(k) if isinstance(raw.get(k), list) else []
        context[k] = [Asset(name=d.get("name"), uri=d.get("uri"), group=d.get("group"), extra=d.get("extra"))
                      for d in docs if isinstance(d, dict) and d.get("uri")]
    events = _triggering_events(raw.get("triggering_asset_events"))
    context["outlet_events"] = OutletEventAccessors()
    context["triggering_asset_events"] = events
    context["triggering_dataset_events"] = events
    return context


def get_current_context():
    """The running task's context (Airflow's ``get_current_context``, in
    ``airflow.sdk.definitions.context``): the same dict a python task's callable gets."""
    call = _call
    if call is None:
        raise RuntimeError(
            "Current context was requested but no context was found! Are you running within an Airflow task?"
        )
    with _call_lock:
        context = call.get("context")
        if context is None:
            raw = call.get("raw")
            if raw is None:
                raw = _ask("context", {}, "the task's context",
                           "{{ ds }} or {{ params.x }}")
            context = call["context"] = _airflow_context_from(raw)
    return context


def _begin_call(raw, on_lambda=False):
    """The worker starts a call: ``raw`` is its context's JSON when the request carried
    it (python tasks), else it is asked for when first needed."""
    global _call
    _call = {"raw": raw, "context": None, "lambda": on_lambda}


def _context_of_call():
    """The running call's context, built now (for binding a python_callable)."""
    return get_current_context()


def _callback_context():
    """An Airflow callback's context: the running call's (so ``get_current_context()``
    works in the callback too), with ``exception`` the exception the task raised,
    rebuilt here from its type and message as the try ran in another process (Airflow's
    ``context["exception"]``)."""
    ctx = get_current_context()
    raw = (_call or {}).get("raw") or {}
    info = raw.get("exception")
    if isinstance(info, dict):
        ctx["exception"] = _rebuilt_exception(info)
    return ctx


def _rebuilt_exception(info):
    """An exception of the type named in `info` with its message: a builtin type (or
    one from `airflow.exceptions`, when importable) as itself, any other as an Exception
    subclass of that name. Its remote traceback is `.remote_traceback`."""
    import builtins
    import importlib

    name = str(info.get("type") or "Exception")
    message = str(info.get("message") or "")
    cls = getattr(builtins, name, None)
    if cls is None and name.startswith("Airflow"):
        try:
            cls = getattr(importlib.import_module("airflow.exceptions"), name, None)
        except Exception:
            cls = None
    if not (isinstance(cls, type) and issubclass(cls, BaseException)):
        module, _, short = name.rpartition(".")
        cls = type(short, (Exception,), {"__module__": module or "lithoflow.task"})
    try:
        e = cls(message)
    except Exception:
        e = Exception(message)
    e.remote_traceback = info.get("traceback") or ""
    return e


def _end_call():
    global _call
    _call = None
