"""Shared helpers of the official-client tests (tests/it/airflow_clients.rs runs them).

Each `test_v1_*.py` runs with `apache-airflow-client` 2.10.x against `/api/v1`, each
`test_v2_*.py` with 3.x against `/api/v2`, against a real `lithoflow scheduler` started
for that file alone over the DAGs in `tests/airflow_clients/dags/`. The harness passes:

- `AIRFLOW_API`: the scheduler's base URL, `http://127.0.0.1:<port>` (no `/api/vN`);
- `AIRFLOW_TOKEN`: the bearer token;
- `LITHOFLOW_HOME`, `LITHOFLOW_BIN`, `DAGS_FOLDER`: the scheduler's home, the binary,
  its DAGs folder (a copy of `tests/airflow_clients/dags/`, which a test may change).

Wait for conditions with `wait_for`, never for fixed delays.
"""

import json
import os
import time
import urllib.request

API = os.environ.get("AIRFLOW_API", "http://127.0.0.1:8793")
TOKEN = os.environ.get("AIRFLOW_TOKEN", "")
HOME = os.environ.get("LITHOFLOW_HOME", "")
BIN = os.environ.get("LITHOFLOW_BIN", "lithoflow")
DAGS_FOLDER = os.environ.get("DAGS_FOLDER", "")

# Conditions are waited for this long at most (a busy 2-core machine is slow).
LIMIT = float(os.environ.get("AIRFLOW_CLIENT_TEST_LIMIT", "120"))


def v1_client():
    """An `ApiClient` of apache-airflow-client 2.10.x for `/api/v1` with the token."""
    import airflow_client.client as client

    # The 2.x client has no bearer-token setting (only basic auth): the header is set
    # on the client, as a user with a token does.
    conf = client.Configuration(host=API + "/api/v1")
    return client.ApiClient(
        conf, header_name="Authorization", header_value=f"Bearer {TOKEN}"
    )


def v2_client():
    """An `ApiClient` of apache-airflow-client 3.x for `/api/v2` with the token."""
    import airflow_client.client as client

    conf = client.Configuration(host=API, access_token=TOKEN)
    return client.ApiClient(conf)


def wait_for(what, check, limit=None):
    """Calls `check()` until it returns something truthy and returns that; fails the
    test saying `what` after `limit` seconds."""
    deadline = time.monotonic() + (limit or LIMIT)
    last_error = None
    while time.monotonic() < deadline:
        try:
            got = check()
            if got:
                return got
        except Exception as e:  # a route may 404 until the thing exists
            last_error = e
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what} (last error: {last_error!r})")


def raw(method, path, body=None, token=TOKEN, accept="application/json"):
    """A request without a client: `(status, headers, text)`. `path` starts with `/api/`."""
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(API + path, data=data, method=method)
    if token is not None:
        req.add_header("Authorization", f"Bearer {token}")
    if data is not None:
        req.add_header("Content-Type", "application/json")
    if accept:
        req.add_header("Accept", accept)
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            return resp.status, dict(resp.headers), resp.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read().decode()
