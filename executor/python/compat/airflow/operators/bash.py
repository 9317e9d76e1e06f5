"""Airflow's ``BashOperator`` (airflow/operators/bash.py, 2.10; airflow/providers/standard/
operators/bash.py, 3.1)."""

from airflow._lithoflow.core import NOTSET
from airflow.models.baseoperator import BaseOperator


class BashOperator(BaseOperator):
    """Execute a Bash script, command or set of commands."""

    template_fields = ("bash_command", "env", "cwd")
    template_fields_renderers = {"bash_command": "bash", "env": "json"}
    template_ext = (".sh", ".bash")
    ui_color = "#f0ede4"
    _lithoflow_base_kind = "bash"

    def __init__(
        self,
        *,
        bash_command=NOTSET,
        env=None,
        append_env=False,
        output_encoding="utf-8",
        skip_exit_code=None,
        skip_on_exit_code=99,
        cwd=None,
        output_processor=lambda result: result,
        xcom_push=None,
        **kwargs,
    ):
        if xcom_push is not None:
            # Airflow 1.10's name of do_xcom_push (BashOperator's own argument there).
            kwargs.setdefault("do_xcom_push", xcom_push)
        super().__init__(**kwargs)
        self.bash_command = bash_command
        self.env = env
        self.output_encoding = output_encoding
        if skip_exit_code is not None:
            skip_on_exit_code = skip_exit_code
        self.skip_on_exit_code = (
            skip_on_exit_code
            if isinstance(skip_on_exit_code, (list, tuple, set, frozenset, range))
            else [skip_on_exit_code]
            if skip_on_exit_code is not None
            else []
        )
        self.cwd = cwd
        self.append_env = append_env
        self.output_processor = output_processor

    @classmethod
    def _is_inline_cmd(cls, bash_command):
        return not bash_command.endswith(tuple(cls.template_ext))


__all__ = ["BashOperator"]
