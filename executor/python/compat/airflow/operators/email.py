"""Airflow's ``EmailOperator`` (loaded; running it fails: lithoflow sends no e-mail)."""

from airflow.operators._unsupported import UnsupportedOperator


class EmailOperator(UnsupportedOperator):
    template_fields = ("to", "subject", "html_content", "files")
    template_ext = (".html",)
    ui_color = "#e6faf9"
