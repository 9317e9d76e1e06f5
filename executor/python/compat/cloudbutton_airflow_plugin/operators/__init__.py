"""The Cloudbutton plugin's operators (``cloudbutton_airflow_plugin.operators``)."""

from airflow.operators.cloudbutton_airflow_plugin import *  # noqa: F401,F403
from airflow.operators.cloudbutton_airflow_plugin import __all__  # noqa: F401
