"""Airflow's ``Connection`` (airflow/models/connection.py, 2.10; airflow/sdk/definitions/
connection.py, 3.1): its fields, a URI form (``Connection(uri=...)``, ``get_uri()``),
``extra_dejson``, and ``Connection.get_connection_from_secrets(conn_id)`` /
``Connection.get(conn_id)`` answered by ``airflow._lithoflow.host``."""

import json
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit

from airflow.exceptions import AirflowException, AirflowNotFoundException


def _parse_netloc_to_hostname(uri_parts):
    hostname = unquote(uri_parts.hostname or "")
    if "/" in hostname:
        hostname = uri_parts.netloc
        if "@" in hostname:
            hostname = hostname.rsplit("@", 1)[1]
        if ":" in hostname:
            hostname = hostname.split(":", 1)[0]
        hostname = unquote(hostname)
    return hostname


class Connection:
    """Placeholder to store information about different database instances connection information."""

    EXTRA_KEY = "__extra__"

    def __init__(self, conn_id=None, conn_type=None, description=None, host=None, login=None, password=None,
                 schema=None, port=None, extra=None, uri=None):
        self.conn_id = conn_id
        self.description = description
        if extra and not isinstance(extra, str):
            extra = json.dumps(extra)
        if uri and (conn_type or host or login or password or schema or port or extra):
            raise AirflowException(
                "You must create an object using the URI or individual values "
                "(conn_type, host, login, password, schema, port or extra)."
                "You can't mix these two ways to create this object."
            )
        if uri:
            self._parse_from_uri(uri)
        else:
            self.conn_type = conn_type
            self.host = host
            self.login = login
            self.password = password
            self.schema = schema
            self.port = port
            self.extra = extra
        if self.port is not None:
            try:
                self.port = int(self.port)
            except (TypeError, ValueError):
                pass

    def _parse_from_uri(self, uri):
        schemes_count_in_uri = uri.count("://")
        if schemes_count_in_uri > 2:
            raise AirflowException(f"Invalid connection string: {uri}.")
        host_with_protocol = schemes_count_in_uri == 2
        uri_parts = urlsplit(uri)
        conn_type = uri_parts.scheme
        self.conn_type = conn_type.replace("-", "_")
        if self.conn_type == "postgresql":
            self.conn_type = "postgres"
        rest_of_the_url = uri.replace(f"{conn_type}://", ("" if host_with_protocol else "//"))
        if host_with_protocol:
            uri_splits = rest_of_the_url.split("://", 1)
            if "@" in uri_splits[0] or ":" in uri_splits[0]:
                raise AirflowException(f"Invalid connection string: {uri}.")
        uri_parts = urlsplit(rest_of_the_url)
        protocol = uri_parts.scheme if host_with_protocol else None
        host = _parse_netloc_to_hostname(uri_parts)
        self.host = f"{protocol}://{host}" if protocol else host
        quoted_schema = uri_parts.path[1:]
        self.schema = unquote(quoted_schema) if quoted_schema else quoted_schema
        self.login = unquote(uri_parts.username) if uri_parts.username else uri_parts.username
        self.password = unquote(uri_parts.password) if uri_parts.password else uri_parts.password
        self.port = uri_parts.port
        self.extra = None
        if uri_parts.query:
            query = dict(parse_qsl(uri_parts.query, keep_blank_values=True))
            if self.EXTRA_KEY in query:
                self.extra = query[self.EXTRA_KEY]
            else:
                self.extra = json.dumps(query)

    def get_uri(self):
        """Return connection in URI format."""
        if self.conn_type and "_" in self.conn_type:
            conn_type = self.conn_type.replace("_", "-")
        else:
            conn_type = self.conn_type or ""
        uri = f"{conn_type}://"
        host_to_use = self.host or ""
        protocol_to_add = None
        if host_to_use and "://" in host_to_use:
            protocol_to_add, host_to_use = host_to_use.split("://", 1)
        if protocol_to_add:
            uri += f"{protocol_to_add}://"
        authority_block = ""
        if self.login is not None:
            authority_block += quote(self.login, safe="")
        if self.password is not None:
            authority_block += ":" + quote(self.password, safe="")
        if authority_block > "":
            authority_block += "@"
            uri += authority_block
        host_block = ""
        if host_to_use:
            host_block += quote(host_to_use, safe="")
        if self.port:
            if host_block == "" and authority_block == "":
                host_block += f"@:{self.port}"
            else:
                host_block += f":{self.port}"
        if self.schema:
            host_block += f"/{quote(self.schema, safe='')}"
        uri += host_block
        if self.extra:
            try:
                query = urlencode(self.extra_dejson)
            except TypeError:
                query = None
            if query and self.extra_dejson == dict(parse_qsl(query, keep_blank_values=True)):
                uri += ("?" if self.schema else "/?") + query
            else:
                uri += ("?" if self.schema else "/?") + urlencode({self.EXTRA_KEY: self.extra})
        return uri

    @property
    def extra_dejson(self):
        """Returns the extra property by deserializing json."""
        obj = {}
        if self.extra:
            try:
                obj = json.loads(self.extra)
            except json.JSONDecodeError:
                pass
        return obj if isinstance(obj, dict) else {}

    def get_extra_dejson(self, nested=False):
        return self.extra_dejson

    def get_password(self):
        return self.password

    def get_extra(self):
        return self.extra

    def __repr__(self):
        return self.conn_id or ""

    def log_info(self):
        return f"id: {self.conn_id}. Host: {self.host}, Port: {self.port}, Schema: {self.schema}, Login: {self.login}"

    def debug_info(self):
        return self.log_info()

    def test_connection(self):
        return False, "Testing connections is not available in lithoflow"

    def get_hook(self, *, hook_params=None):
        raise AirflowException(
            f"Connection.get_hook() for conn_type {self.conn_type!r} is not available in lithoflow: "
            "hooks come from provider packages lithoflow does not implement"
        )

    def to_dict(self, *, prune_empty=False, validate=True):
        conn = {
            "conn_id": self.conn_id,
            "conn_type": self.conn_type,
            "description": self.description,
            "host": self.host,
            "login": self.login,
            "password": self.password,
            "schema": self.schema,
            "port": self.port,
        }
        if prune_empty:
            conn = {k: v for k, v in conn.items() if v}
        if self.extra_dejson:
            conn["extra"] = self.extra_dejson
        return conn

    def as_json(self):
        return json.dumps(self.to_dict())

    @classmethod
    def from_json(cls, value, conn_id=None):
        kwargs = json.loads(value)
        extra = kwargs.pop("extra", None)
        if extra:
            kwargs["extra"] = extra if isinstance(extra, str) else json.dumps(extra)
        port = kwargs.pop("port", None)
        if port:
            kwargs["port"] = int(port)
        return cls(conn_id=conn_id, **kwargs)

    @classmethod
    def _from_doc(cls, doc, conn_id):
        if doc.get("uri"):
            conn = cls(conn_id=doc.get("conn_id") or conn_id, uri=doc["uri"])
            return conn
        fields = ("conn_type", "description", "host", "login", "password", "schema", "port", "extra")
        return cls(conn_id=doc.get("conn_id") or conn_id, **{k: doc.get(k) for k in fields})

    @classmethod
    def get_connection_from_secrets(cls, conn_id):
        """Get connection by conn_id (through lithoflow's host)."""
        from airflow._lithoflow import host

        doc = host.get_connection(conn_id)
        if doc is None:
            raise AirflowNotFoundException(f"The conn_id `{conn_id}` isn't defined")
        return cls._from_doc(doc, conn_id)

    @classmethod
    def get(cls, conn_id):
        """Airflow 3's ``Connection.get(conn_id)``."""
        return cls.get_connection_from_secrets(conn_id)
