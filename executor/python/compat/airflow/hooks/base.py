"""Airflow's ``BaseHook`` (airflow/hooks/base.py): ``BaseHook.get_connection(conn_id)``,
answered by ``airflow._lithoflow.host`` (``AirflowNotFoundException`` when undefined)."""

import logging


class BaseHook:
    """Abstract base class for hooks."""

    conn_name_attr = None
    default_conn_name = "default_conn_id"
    conn_type = None
    hook_name = None

    def __init__(self, logger_name=None, *args, **kwargs):
        self._log_config_logger_name = "airflow.task.hooks"
        self._logger_name = logger_name

    @property
    def log(self):
        return logging.getLogger(self._logger_name or f"airflow.task.hooks.{type(self).__module__}.{type(self).__name__}")

    @classmethod
    def get_connections(cls, conn_id):
        return [cls.get_connection(conn_id)]

    @classmethod
    def get_connection(cls, conn_id):
        """Get connection, given connection id."""
        from airflow.models.connection import Connection

        return Connection.get_connection_from_secrets(conn_id)

    @classmethod
    def get_hook(cls, conn_id, hook_params=None):
        connection = cls.get_connection(conn_id)
        return connection.get_hook(hook_params=hook_params)

    def get_conn(self):
        raise NotImplementedError()

    @classmethod
    def get_connection_form_widgets(cls):
        return {}

    @classmethod
    def get_ui_field_behaviour(cls):
        return {}
