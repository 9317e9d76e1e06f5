"""Airflow's Python operators (airflow/operators/python.py, 2.10;
airflow/providers/standard/operators/python.py, 3.1): ``PythonOperator``,
``BranchPythonOperator``, ``ShortCircuitOperator``, ``PythonVirtualenvOperator``,
``BranchPythonVirtualenvOperator``, ``ExternalPythonOperator``,
``BranchExternalPythonOperator``, and ``get_current_context``."""

import inspect
import types

from airflow.exceptions import AirflowException
from airflow.models.baseoperator import BaseOperator
from airflow.models.skipmixin import SkipMixin
from airflow.utils.context import get_current_context  # noqa: F401


class BranchMixIn(SkipMixin):
    """Utility helper which handles the branching as one-liner."""

    def do_branch(self, context, branches_to_execute):
        return branches_to_execute


class PythonOperator(BaseOperator):
    """Executes a Python callable."""

    template_fields = ("templates_dict", "op_args", "op_kwargs")
    template_fields_renderers = {"templates_dict": "json", "op_args": "py", "op_kwargs": "py"}
    BLUE = "#ffefeb"
    ui_color = BLUE
    shallow_copy_attrs = ("python_callable", "op_kwargs")
    _lithoflow_base_kind = "python"

    def __init__(
        self,
        *,
        python_callable,
        op_args=None,
        op_kwargs=None,
        templates_dict=None,
        templates_exts=None,
        show_return_value_in_logs=True,
        **kwargs,
    ):
        if kwargs.get("provide_context"):
            kwargs.pop("provide_context", None)
        kwargs.pop("provide_context", None)
        super().__init__(**kwargs)
        if not callable(python_callable):
            raise AirflowException("`python_callable` param must be callable")
        self.python_callable = python_callable
        self.op_args = op_args or ()
        self.op_kwargs = op_kwargs or {}
        self.templates_dict = templates_dict
        if templates_exts:
            self.template_ext = templates_exts
        self.show_return_value_in_logs = show_return_value_in_logs

    def execute(self, context):
        return self.execute_callable()

    def execute_callable(self):
        return self.python_callable(*self.op_args, **self.op_kwargs)


class BranchPythonOperator(PythonOperator, BranchMixIn):
    """The callable returns the task id(s) to follow; the others are skipped."""

    _lithoflow_base_kind = "branch"


class ShortCircuitOperator(PythonOperator, SkipMixin):
    """Skips the downstream tasks when the callable returns a falsy value."""

    _lithoflow_base_kind = "short_circuit"

    def __init__(self, *, ignore_downstream_trigger_rules=True, **kwargs):
        super().__init__(**kwargs)
        self.ignore_downstream_trigger_rules = ignore_downstream_trigger_rules


class _BasePythonVirtualenvOperator(PythonOperator):
    _lithoflow_base_kind = "virtualenv"

    def __init__(
        self,
        *,
        python_callable,
        serializer=None,
        op_args=None,
        op_kwargs=None,
        string_args=None,
        templates_dict=None,
        templates_exts=None,
        expect_airflow=True,
        skip_on_exit_code=None,
        env_vars=None,
        inherit_env=True,
        use_dill=False,
        **kwargs,
    ):
        if (
            not isinstance(python_callable, types.FunctionType)
            or isinstance(python_callable, types.LambdaType)
            and python_callable.__name__ == "<lambda>"
        ):
            raise ValueError(f"{type(self).__name__} only supports functions for python_callable arg")
        if inspect.isgeneratorfunction(python_callable):
            raise ValueError(f"{type(self).__name__} does not support using 'yield' in python_callable")
        super().__init__(
            python_callable=python_callable,
            op_args=op_args,
            op_kwargs=op_kwargs,
            templates_dict=templates_dict,
            templates_exts=templates_exts,
            **kwargs,
        )
        self.string_args = string_args or []
        if use_dill:
            serializer = serializer or "dill"
        self.serializer = serializer or "pickle"
        self.use_dill = self.serializer == "dill"
        if self.serializer not in ("pickle", "dill", "cloudpickle"):
            raise AirflowException(
                f"Unsupported serializer {self.serializer!r}. Expected one of 'pickle', 'dill', 'cloudpickle'"
            )
        self.expect_airflow = expect_airflow
        self.skip_on_exit_code = (
            skip_on_exit_code
            if isinstance(skip_on_exit_code, (list, tuple, set, frozenset))
            else [skip_on_exit_code]
            if skip_on_exit_code is not None
            else []
        )
        self.env_vars = env_vars
        self.inherit_env = inherit_env


class PythonVirtualenvOperator(_BasePythonVirtualenvOperator):
    """Run a function in a virtualenv that is created and destroyed automatically (lithoflow
    caches one per requirement set)."""

    template_fields = tuple(
        sorted({"requirements", "index_urls", "venv_cache_path"}.union(PythonOperator.template_fields))
    )
    template_ext = (".txt",)

    def __init__(
        self,
        *,
        python_callable,
        requirements=None,
        python_version=None,
        serializer=None,
        system_site_packages=True,
        pip_install_options=None,
        op_args=None,
        op_kwargs=None,
        string_args=None,
        templates_dict=None,
        templates_exts=None,
        expect_airflow=True,
        skip_on_exit_code=None,
        index_urls=None,
        venv_cache_path=None,
        env_vars=None,
        inherit_env=True,
        use_dill=False,
        **kwargs,
    ):
        import sys

        if python_version and str(python_version)[0] != str(sys.version_info.major) and (op_args or op_kwargs):
            raise AirflowException(
                "Passing op_args or op_kwargs is not supported across different Python "
                "major versions for PythonVirtualenvOperator. Please use string_args."
                f"Sys version: {sys.version_info}. Virtual environment version: {python_version}"
            )
        if not requirements:
            self.requirements = []
        elif isinstance(requirements, str):
            self.requirements = [requirements]
        else:
            self.requirements = list(requirements)
        self.python_version = python_version
        self.system_site_packages = system_site_packages
        self.pip_install_options = pip_install_options
        if isinstance(index_urls, str):
            self.index_urls = [index_urls]
        elif index_urls:
            self.index_urls = list(index_urls)
        else:
            self.index_urls = None
        self.venv_cache_path = venv_cache_path
        super().__init__(
            python_callable=python_callable,
            serializer=serializer,
            op_args=op_args,
            op_kwargs=op_kwargs,
            string_args=string_args,
            templates_dict=templates_dict,
            templates_exts=templates_exts,
            expect_airflow=expect_airflow,
            skip_on_exit_code=skip_on_exit_code,
            env_vars=env_vars,
            inherit_env=inherit_env,
            use_dill=use_dill,
            **kwargs,
        )


class BranchPythonVirtualenvOperator(PythonVirtualenvOperator, BranchMixIn):
    """A workflow can "branch" after this task, run in a virtualenv."""

    _lithoflow_base_kind = "branch_virtualenv"


class ExternalPythonOperator(_BasePythonVirtualenvOperator):
    """Run a function in a virtualenv (or interpreter) that is not re-created: ``python``."""

    template_fields = tuple(sorted({"python"}.union(PythonOperator.template_fields)))

    def __init__(
        self,
        *,
        python,
        python_callable,
        serializer=None,
        op_args=None,
        op_kwargs=None,
        string_args=None,
        templates_dict=None,
        templates_exts=None,
        expect_airflow=True,
        expect_pendulum=False,
        skip_on_exit_code=None,
        env_vars=None,
        inherit_env=True,
        use_dill=False,
        **kwargs,
    ):
        if not python:
            raise ValueError("Python Path must be defined in ExternalPythonOperator")
        self.python = python
        self.expect_pendulum = expect_pendulum
        super().__init__(
            python_callable=python_callable,
            serializer=serializer,
            op_args=op_args,
            op_kwargs=op_kwargs,
            string_args=string_args,
            templates_dict=templates_dict,
            templates_exts=templates_exts,
            expect_airflow=expect_airflow,
            skip_on_exit_code=skip_on_exit_code,
            env_vars=env_vars,
            inherit_env=inherit_env,
            use_dill=use_dill,
            **kwargs,
        )


class BranchExternalPythonOperator(ExternalPythonOperator, BranchMixIn):
    """A workflow can "branch" after this task, run in an external interpreter."""

    _lithoflow_base_kind = "branch_virtualenv"


def is_venv_installed():
    return True


__all__ = [
    "PythonOperator",
    "BranchPythonOperator",
    "ShortCircuitOperator",
    "PythonVirtualenvOperator",
    "BranchPythonVirtualenvOperator",
    "ExternalPythonOperator",
    "BranchExternalPythonOperator",
    "get_current_context",
    "is_venv_installed",
    "BranchMixIn",
]
