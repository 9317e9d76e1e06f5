#!/usr/bin/env bash
# Installs Apache Airflow's official Python clients, one virtual environment each, for the
# official-client tests (tests/it/airflow_clients.rs runs tests/airflow_clients/*.py):
#   apache-airflow-client 2.10.0 for /api/v1 (test_v1_*.py),
#   apache-airflow-client 3.1.8  for /api/v2 (test_v2_*.py).
# They go under the cargo target directory ($CARGO_TARGET_DIR or target/), in
# airflow-clients/<version>/: it is ignored by git, private to each worktree, and
# `cargo clean` removes it with the rest of the build (a venv holds absolute paths, so it
# cannot be shared between checkouts anyway). $AIRFLOW_CLIENTS_DIR overrides the place.
#
# Idempotent: a venv is made once and stamped with what was installed in it; a second call
# checks the stamps and returns at once. Safe when several test processes call it at once
# (flock: one installs, the others wait and then find it installed). Fails loudly.
# Prints one line per client, `<api> <venv>`, e.g. `v1 /repo/target/airflow-clients/2.10.0`.
set -euo pipefail
cd "$(dirname "$0")/.."
V1_CLIENT=2.10.0
V2_CLIENT=3.1.8
PYTHON=${PYTHON:-python3}
DIR=${AIRFLOW_CLIENTS_DIR:-${CARGO_TARGET_DIR:-target}/airflow-clients}
mkdir -p "$DIR"
DIR=$(cd "$DIR" && pwd)

stamp_of() { echo "apache-airflow-client==$1 $($PYTHON --version 2>&1)"; }
installed() {
  local venv="$DIR/$1"
  [ -x "$venv/bin/python" ] && [ -f "$venv/.installed" ] \
    && [ "$(cat "$venv/.installed")" = "$(stamp_of "$1")" ]
}
install() {
  local version=$1 venv="$DIR/$1"
  installed "$version" && return 0
  echo "installing apache-airflow-client==$version into $venv" >&2
  rm -rf "$venv"
  "$PYTHON" -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check \
    "apache-airflow-client==$version" >&2
  # The client must import and be the pinned version, or the tests would test nothing.
  local got
  got=$("$venv/bin/python" -c 'import importlib.metadata as m, airflow_client.client; print(m.version("apache-airflow-client"))')
  if [ "$got" != "$version" ]; then
    echo "install-airflow-clients: $venv has apache-airflow-client $got, not $version" >&2
    exit 1
  fi
  stamp_of "$version" >"$venv/.installed"
}

if ! installed "$V1_CLIENT" || ! installed "$V2_CLIENT"; then
  exec 9>"$DIR/install.lock"
  flock 9
  install "$V1_CLIENT"
  install "$V2_CLIENT"
  exec 9>&-
fi
echo "v1 $DIR/$V1_CLIENT"
echo "v2 $DIR/$V2_CLIENT"
