"""Airflow 3's ``airflow.providers.standard.utils.skipmixin``."""

from airflow.models.skipmixin import *  # noqa: F401,F403
from airflow.models.skipmixin import SkipMixin  # noqa: F401
