"""The one place that answers ``Variable.get``, ``Connection``/``BaseHook.get_connection``
and ``conf.get`` for lithoflow's Airflow compatibility package.

Three modes:

- **loading**: a loader process is importing a DAG file. The loader installs
  ``set_loader_lookup(fn)``, ``fn(op, key) -> value or None`` with ``op`` one of
  ``"variable"``, ``"connection"`` (a connection's value is Airflow's connection as a
  dict: conn_id, conn_type, host, login, password, schema, port, extra). Each parse-time read is recorded in ``PARSE_TIME_READS``
  with the DAG file's line, for ``migrate``. ``set_loading(dag_file, dags_folder)`` names
  the file being loaded (it decides which line a task or DAG is reported at).
- **running**: inside a worker call (the ``lithoflow`` runtime module is running a task):
  delegate to ``lithoflow.Variable`` / ``lithoflow.get_connection``, which ask the host.
- **plain**: neither: ``AIRFLOW_VAR_<KEY>`` / ``AIRFLOW_CONN_<CONN_ID>`` /
  ``AIRFLOW__<SECTION>__<KEY>`` from the environment (as Airflow's environment-variables
  secrets backend reads them), else not found.
"""

import json
import os
import sys

# The DAG file being loaded and the DAGs folder (set by the loader; None otherwise).
DAG_FILE = None
DAGS_FOLDER = None

# The Airflow version whose defaults apply to the DAG file being loaded (2 or 3): catchup,
# the default schedule, what a cron string or a timedelta schedule becomes, whether a
# schedule needs a start_date. The loader sets it (``set_loading(..., airflow_version=3)``).
AIRFLOW_VERSION = 2

# Every parse-time read while loading: {"what": "Variable.get('k')", "line": 4,
# "kind": "variable"|"connection"|"config", "key": "k", "found": bool}.
PARSE_TIME_READS = []

_loader_lookup = None

# Values written at parse time (Variable.set outside a worker): kept for the process.
_LOCAL_VARIABLES = {}


def set_loader_lookup(fn):
    """Installs (or with None removes) the loader's lookup ``fn(op, key) -> value or None``."""
    global _loader_lookup
    _loader_lookup = fn


def set_loading(dag_file, dags_folder, airflow_version=None):
    """Names the DAG file being loaded and the DAGs folder (absolute paths, or None), and
    the Airflow version whose defaults apply (2 or 3; None keeps the current one)."""
    global DAG_FILE, DAGS_FOLDER, AIRFLOW_VERSION
    if airflow_version is not None:
        AIRFLOW_VERSION = int(airflow_version)
    DAG_FILE = os.path.abspath(dag_file) if dag_file else None
    DAGS_FOLDER = os.path.abspath(dags_folder) if dags_folder else None


def _runtime():
    mod = sys.modules.get("lithoflow")
    if mod is None:
        return None
    if getattr(mod, "_call", None) is None and getattr(mod, "_host", None) is None:
        return None
    return mod


def mode():
    """``"loading"``, ``"running"`` or ``"plain"``."""
    if _loader_lookup is not None:
        return "loading"
    if _runtime() is not None:
        return "running"
    return "plain"


def _record(kind, what, key, found):
    from airflow._lithoflow.core import caller_line

    PARSE_TIME_READS.append(
        {"what": what, "line": caller_line(2), "kind": kind, "key": key, "found": bool(found)}
    )


def get_variable(key):
    """The variable's value (a string), or None when it does not exist."""
    if key in _LOCAL_VARIABLES:
        return _LOCAL_VARIABLES[key]
    if _loader_lookup is not None:
        value = _loader_lookup("variable", key)
        _record("variable", "Variable.get(%r)" % (key,), key, value is not None)
        return value
    runtime = _runtime()
    if runtime is not None:
        missing = object()
        value = runtime.Variable.get(key, default_var=missing)
        return None if value is missing else value
    return os.environ.get("AIRFLOW_VAR_" + key.upper())


def set_variable(key, value):
    """Stores a variable: through the host while running, else for this process only."""
    runtime = _runtime()
    if _loader_lookup is None and runtime is not None:
        runtime.Variable.set(key, value)
        return
    _LOCAL_VARIABLES[key] = value


def _connection_from_env(conn_id):
    raw = os.environ.get("AIRFLOW_CONN_" + conn_id.upper())
    if raw is None:
        return None
    raw = raw.strip()
    if raw.startswith("{"):
        doc = json.loads(raw)
        doc.setdefault("conn_id", conn_id)
        return doc
    return {"conn_id": conn_id, "uri": raw}


def get_connection(conn_id):
    """The connection as a dict (conn_id, conn_type, host, login, password, schema, port,
    extra; or conn_id and uri), or None when it does not exist."""
    if _loader_lookup is not None:
        value = _loader_lookup("connection", conn_id)
        _record("connection", "BaseHook.get_connection(%r)" % (conn_id,), conn_id, value is not None)
        if isinstance(value, str):
            value = json.loads(value)
        return value
    runtime = _runtime()
    if runtime is not None:
        try:
            conn = runtime.get_connection(conn_id)
        except KeyError:
            return None
        fields = ("conn_id", "conn_type", "description", "host", "login", "password", "schema", "port", "extra")
        doc = {k: getattr(conn, k, None) for k in fields}
        uri = getattr(conn, "_uri", None)
        if uri:
            doc["uri"] = uri
        return doc
    return _connection_from_env(conn_id)


def get_config(section, key):
    """A configuration value (a string) from the environment (``AIRFLOW__SECTION__KEY``,
    as Airflow reads it), else None (``airflow.configuration.conf`` then answers Airflow's
    default). The loader's environment is cleared, so a DAG file sees Airflow's defaults."""
    return os.environ.get("AIRFLOW__%s__%s" % (section.upper(), key.upper()))
