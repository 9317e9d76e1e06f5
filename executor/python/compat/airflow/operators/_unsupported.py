"""Airflow operators lithoflow loads but does not run (email, subdags, the date/weekday
branches): their tasks fail at run time with a message naming the operator."""

from airflow.models.baseoperator import BaseOperator


class UnsupportedOperator(BaseOperator):
    """Accepts any arguments; ``_lithoflow_kind`` is ``"unsupported"``."""

    _lithoflow_base_kind = "unsupported"
    _lithoflow_unsupported = True

    def __init__(self, **kwargs):
        from airflow._lithoflow.providers import _base_params

        base = _base_params(BaseOperator)
        own = {k: v for k, v in kwargs.items() if k not in base}
        passthrough = {k: v for k, v in kwargs.items() if k in base}
        for key, value in own.items():
            object.__setattr__(self, key, value)
        self._lithoflow_stub_kwargs = own
        super().__init__(**passthrough)

    def execute(self, context):
        from airflow._lithoflow.providers import _unsupported_run_error

        raise _unsupported_run_error(type(self))
