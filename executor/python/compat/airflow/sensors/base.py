"""Airflow's ``BaseSensorOperator`` and ``PokeReturnValue`` (airflow/sensors/base.py, 2.10):
``poke_interval``, ``timeout`` (seconds, default 7 days), ``soft_fail``, ``mode``
(``poke``/``reschedule``), ``exponential_backoff``, ``max_wait``, ``silent_fail``,
``never_fail``, with Airflow's checks. lithoflow's engine does the waiting."""

import datetime

from airflow.exceptions import AirflowException
from airflow.models.baseoperator import BaseOperator
from airflow.models.skipmixin import SkipMixin


class PokeReturnValue:
    """Optional return value for poke methods: ``is_done`` and an ``xcom_value``."""

    def __init__(self, is_done, xcom_value=None):
        self.xcom_value = xcom_value
        self.is_done = is_done

    def __bool__(self):
        return self.is_done


class BaseSensorOperator(BaseOperator, SkipMixin):
    """Sensor operators keep executing at a time interval and succeed when a criteria is met."""

    ui_color = "#e6f1f2"
    valid_modes = ["poke", "reschedule"]
    _lithoflow_base_kind = "custom_sensor"
    _lithoflow_sensor_kind = None

    def __init__(
        self,
        *,
        poke_interval=60,
        timeout=60 * 60 * 24 * 7,
        soft_fail=False,
        mode="poke",
        exponential_backoff=False,
        max_wait=None,
        silent_fail=False,
        never_fail=False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.poke_interval = self._coerce_poke_interval(poke_interval).total_seconds()
        self.soft_fail = soft_fail
        self.timeout = self._coerce_timeout(timeout).total_seconds()
        self.mode = mode
        self.exponential_backoff = exponential_backoff
        self.max_wait = self._coerce_max_wait(max_wait)
        if soft_fail is True and never_fail is True:
            raise ValueError("soft_fail and never_fail are mutually exclusive, you can not provide both.")
        self.silent_fail = silent_fail
        self.never_fail = never_fail
        self._validate_input_values()

    @staticmethod
    def _coerce_poke_interval(poke_interval):
        if isinstance(poke_interval, datetime.timedelta):
            return poke_interval
        if isinstance(poke_interval, (int, float)) and poke_interval >= 0:
            return datetime.timedelta(seconds=poke_interval)
        raise AirflowException("Operator arg `poke_interval` must be timedelta object or a non-negative number")

    @staticmethod
    def _coerce_timeout(timeout):
        if isinstance(timeout, datetime.timedelta):
            return timeout
        if isinstance(timeout, (int, float)) and timeout >= 0:
            return datetime.timedelta(seconds=timeout)
        raise AirflowException("Operator arg `timeout` must be timedelta object or a non-negative number")

    @staticmethod
    def _coerce_max_wait(max_wait):
        if max_wait is None or isinstance(max_wait, datetime.timedelta):
            return max_wait
        if isinstance(max_wait, (int, float)) and max_wait >= 0:
            return datetime.timedelta(seconds=max_wait)
        raise AirflowException("Operator arg `max_wait` must be timedelta object or a non-negative number")

    def _validate_input_values(self):
        if not isinstance(self.poke_interval, (int, float)) or self.poke_interval < 0:
            raise AirflowException("The poke_interval must be a non-negative number")
        if not isinstance(self.timeout, (int, float)) or self.timeout < 0:
            raise AirflowException("The timeout must be a non-negative number")
        if self.mode not in self.valid_modes:
            raise AirflowException(
                f"The mode must be one of {self.valid_modes},'{self.dag.dag_id if self.has_dag() else ''} "
                f".{self.task_id}'; received '{self.mode}'."
            )

    @property
    def reschedule(self):
        return self.mode == "reschedule"

    def poke(self, context):
        """Override when deriving this class."""
        raise AirflowException("Override me.")

    def execute(self, context):
        """One poke (lithoflow's engine repeats it, waits and times out)."""
        return self.poke(context)

    @classmethod
    def get_serialized_fields(cls):
        return frozenset()


def poke_mode_only(cls):
    """Decorate a subclass of BaseSensorOperator with poke: only poke mode is allowed."""
    cls.valid_modes = ["poke"]
    return cls


__all__ = ["BaseSensorOperator", "PokeReturnValue", "poke_mode_only"]
