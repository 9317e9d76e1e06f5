"""Airflow's ``GenericTransfer`` (loaded; running it fails: it needs provider hooks)."""

from airflow.operators._unsupported import UnsupportedOperator


class GenericTransfer(UnsupportedOperator):
    template_fields = ("source_project_dataset_table", "destination_table", "sql", "preoperator")
