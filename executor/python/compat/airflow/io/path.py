"""Airflow's ``ObjectStoragePath`` (airflow/io/path.py, 2.10; ``airflow.sdk.ObjectStoragePath``,
3.1). A DAG file may build paths at parse time (``base / "data"``); reading or writing
needs fsspec and Airflow's object-storage providers, which lithoflow does not ship, so
those operations raise an error that says so."""

import posixpath

from airflow.exceptions import AirflowException


class ObjectStoragePath:
    sep = "/"

    def __init__(self, *args, conn_id=None, **kwargs):
        parts = [str(a) for a in args if a is not None and str(a) != ""]
        text = parts[0] if parts else ""
        for p in parts[1:]:
            text = text.rstrip("/") + "/" + p.lstrip("/")
        self._text = text
        scheme, sep, rest = text.partition("://")
        if not sep:
            scheme, rest = "", text
        self.protocol = scheme
        netloc, _, path = rest.partition("/")
        if "@" in netloc:
            conn, _, netloc = netloc.partition("@")
            conn_id = conn_id or conn
        self.conn_id = conn_id
        self.bucket = netloc
        self.container = netloc
        self.key = path
        self.path = "/" + path if path else "/"
        self.storage_options = kwargs

    def __str__(self):
        return self._text

    def __repr__(self):
        return f"ObjectStoragePath({self._text!r})"

    def __fspath__(self):
        return self._text

    def __truediv__(self, other):
        return ObjectStoragePath(self._text, str(other), conn_id=self.conn_id)

    def joinpath(self, *others):
        path = self
        for o in others:
            path = path / o
        return path

    def __eq__(self, other):
        return isinstance(other, ObjectStoragePath) and str(other) == str(self)

    def __hash__(self):
        return hash(self._text)

    @property
    def name(self):
        return posixpath.basename(self._text.rstrip("/"))

    @property
    def stem(self):
        return posixpath.splitext(self.name)[0]

    @property
    def suffix(self):
        return posixpath.splitext(self.name)[1]

    @property
    def parent(self):
        return ObjectStoragePath(self._text.rstrip("/").rsplit("/", 1)[0], conn_id=self.conn_id)

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)

        def unavailable(*args, **kwargs):
            raise AirflowException(
                f"ObjectStoragePath.{name}() is not available in lithoflow (it needs fsspec and Airflow's "
                "object storage providers); keep this DAG on Airflow or use the storage's own client"
            )

        return unavailable


def attach(protocol=None, conn_id=None, alias=None, encryption_type="", fs=None, **kwargs):
    raise AirflowException("airflow.io.attach is not available in lithoflow (it needs fsspec)")
