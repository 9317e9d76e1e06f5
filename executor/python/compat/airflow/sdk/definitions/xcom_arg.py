"""Airflow 3's ``airflow.sdk.definitions.xcom_arg``."""

from airflow.models.xcom_arg import ConcatXComArg, MapXComArg, PlainXComArg, XComArg, ZipXComArg  # noqa: F401
