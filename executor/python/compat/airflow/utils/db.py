"""Airflow's ``airflow.utils.db`` (``provide_session`` lived here in 1.10)."""

from airflow.utils.session import create_session, provide_session  # noqa: F401


def merge_conn(conn, session=None):
    pass
