"""Airflow's ``send_email`` (lithoflow sends no e-mail: calling it raises)."""

from airflow.exceptions import AirflowException


def send_email(to, subject, html_content, files=None, dryrun=False, cc=None, bcc=None, mime_subtype="mixed",
               mime_charset="utf-8", conn_id=None, custom_headers=None, **kwargs):
    raise AirflowException("airflow.utils.email.send_email is not available in lithoflow (it sends no e-mail)")


send_email_smtp = send_email
