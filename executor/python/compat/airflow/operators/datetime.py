"""Airflow's ``BranchDateTimeOperator`` (loaded; running it fails in lithoflow)."""

from airflow.operators._unsupported import UnsupportedOperator


class BranchDateTimeOperator(UnsupportedOperator):
    template_fields = ("follow_task_ids_if_true", "follow_task_ids_if_false", "target_lower", "target_upper")


def target_times_as_dates(base_date, lower, upper):
    return lower, upper
