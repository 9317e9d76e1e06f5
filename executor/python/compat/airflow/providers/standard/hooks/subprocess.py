"""Airflow's ``SubprocessHook`` (used by BashOperator; kept for imports)."""

from collections import namedtuple

from airflow.hooks.base import BaseHook

SubprocessResult = namedtuple("SubprocessResult", ["exit_code", "output"])


class SubprocessHook(BaseHook):
    def __init__(self, **kwargs):
        super().__init__()

    def run_command(self, command, env=None, output_encoding="utf-8", cwd=None):
        import subprocess

        proc = subprocess.run(command, env=env, cwd=cwd, capture_output=True)
        lines = proc.stdout.decode(output_encoding, "replace").splitlines()
        return SubprocessResult(exit_code=proc.returncode, output=lines[-1] if lines else "")
