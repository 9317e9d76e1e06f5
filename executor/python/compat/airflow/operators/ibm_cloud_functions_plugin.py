"""The IBM Cloud Functions plugin (before the PyWren and Lithops plugins):
``IbmCloudFunctionsOperator`` runs an IBM Cloud Functions action, which lithoflow does not:
the task loads and fails when it runs."""

from airflow.operators._unsupported import UnsupportedOperator


class IbmCloudFunctionsOperator(UnsupportedOperator):
    ui_color = "#c4daff"


__all__ = ["IbmCloudFunctionsOperator"]
