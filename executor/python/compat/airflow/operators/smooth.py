"""Airflow's ``SmoothOperator`` (does nothing but log a link: an empty task)."""

from airflow.operators.empty import EmptyOperator


class SmoothOperator(EmptyOperator):
    ui_color = "#e8f7e4"
