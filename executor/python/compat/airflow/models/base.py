"""Airflow's ``airflow.models.base`` names some DAG files import."""

ID_LEN = 250


class Base:
    """Airflow's SQLAlchemy declarative base; lithoflow has no metadata database."""
