"""Airflow's ``airflow.configuration.conf``: ``conf.get(section, key, fallback=...)``,
``getint``/``getfloat``/``getboolean``/``getlist``/``has_option``/``getsection``.

Values come from ``AIRFLOW__<SECTION>__<KEY>`` in the environment (as Airflow reads
them, through ``airflow._lithoflow.host``), else Airflow's defaults for the keys DAG files
read, else ``fallback``, else ``AirflowConfigException`` as Airflow raises."""

import datetime

from airflow._lithoflow import host
from airflow._lithoflow.core import NOTSET
from airflow.exceptions import AirflowConfigException

# Airflow 2.10's defaults (airflow/config_templates/config.yml) for keys DAG files read.
DEFAULTS = {
    ("core", "dags_folder"): None,
    ("core", "default_timezone"): "utc",
    ("core", "executor"): "LocalExecutor",
    ("core", "parallelism"): "32",
    ("core", "max_active_tasks_per_dag"): "16",
    ("core", "max_active_runs_per_dag"): "16",
    ("core", "max_consecutive_failed_dag_runs_per_dag"): "0",
    ("core", "dags_are_paused_at_creation"): "True",
    ("core", "load_examples"): "False",
    ("core", "default_task_retries"): "0",
    ("core", "default_task_retry_delay"): "300",
    ("core", "default_task_weight_rule"): "downstream",
    ("core", "default_task_execution_timeout"): "",
    ("core", "dagbag_import_timeout"): "30.0",
    ("core", "dag_file_processor_timeout"): "50",
    ("core", "unit_test_mode"): "False",
    ("core", "security"): "",
    ("core", "allowed_deserialization_classes"): "airflow.*",
    ("core", "test_connection"): "Disabled",
    ("operators", "default_owner"): "airflow",
    ("operators", "default_queue"): "default",
    ("operators", "default_cpus"): "1",
    ("operators", "default_ram"): "512",
    ("operators", "allow_illegal_arguments"): "False",
    ("scheduler", "catchup_by_default"): None,
    ("scheduler", "create_cron_data_intervals"): None,
    ("scheduler", "min_file_process_interval"): "30",
    ("scheduler", "dag_dir_list_interval"): "300",
    ("webserver", "base_url"): "http://localhost:8080",
    ("webserver", "dag_default_view"): "grid",
    ("webserver", "dag_orientation"): "LR",
    ("webserver", "web_server_port"): "8080",
    ("api", "base_url"): "http://localhost:8080",
    ("email", "default_email_on_retry"): "True",
    ("email", "default_email_on_failure"): "True",
    ("email", "email_backend"): "airflow.utils.email.send_email_smtp",
    ("smtp", "smtp_host"): "localhost",
    ("smtp", "smtp_port"): "25",
    ("smtp", "smtp_mail_from"): "airflow@example.com",
    ("logging", "base_log_folder"): "logs",
    ("logging", "logging_level"): "INFO",
    ("sensors", "default_timeout"): "604800",
}


def _version_default(section, key):
    version = host.AIRFLOW_VERSION
    if (section, key) == ("scheduler", "catchup_by_default"):
        return "True" if version < 3 else "False"
    if (section, key) == ("scheduler", "create_cron_data_intervals"):
        return "True" if version < 3 else "False"
    if (section, key) == ("core", "dags_folder"):
        return host.DAGS_FOLDER
    return None


class AirflowConfigParser:
    """The parts of Airflow's configuration parser DAG files use."""

    def _get(self, section, key):
        section = str(section).lower()
        key = str(key).lower()
        value = host.get_config(section, key)
        if value is not None:
            return value
        value = _version_default(section, key)
        if value is not None:
            return value
        return DEFAULTS.get((section, key))

    def get(self, section, key, fallback=NOTSET, **kwargs):
        if "default" in kwargs and fallback is NOTSET:
            fallback = kwargs["default"]
        value = self._get(section, key)
        if value is None:
            if fallback is not NOTSET:
                return fallback
            raise AirflowConfigException(f"section/key [{section}/{key}] not found in config")
        return value

    def get_mandatory_value(self, section, key, **kwargs):
        value = self.get(section, key, **kwargs)
        if value is None:
            raise ValueError(f"The value {section}/{key} should be set!")
        return value

    def getboolean(self, section, key, fallback=NOTSET, **kwargs):
        val = self.get(section, key, fallback=fallback, **kwargs)
        if isinstance(val, bool):
            return val
        if val is None:
            return val
        val = str(val).lower().strip()
        if "#" in val:
            val = val.split("#")[0].strip()
        if val in ("t", "true", "1"):
            return True
        elif val in ("f", "false", "0"):
            return False
        raise AirflowConfigException(
            f'Failed to convert value to bool. Please check "{key}" key in "{section}" section. '
            f'Current value: "{val}".'
        )

    def getint(self, section, key, fallback=NOTSET, **kwargs):
        val = self.get(section, key, fallback=fallback, **kwargs)
        if val is None or isinstance(val, int):
            return val
        try:
            return int(val)
        except ValueError:
            raise AirflowConfigException(
                f'Failed to convert value to int. Please check "{key}" key in "{section}" section. '
                f'Current value: "{val}".'
            )

    def getfloat(self, section, key, fallback=NOTSET, **kwargs):
        val = self.get(section, key, fallback=fallback, **kwargs)
        if val is None or isinstance(val, float):
            return val
        try:
            return float(val)
        except ValueError:
            raise AirflowConfigException(
                f'Failed to convert value to float. Please check "{key}" key in "{section}" section. '
                f'Current value: "{val}".'
            )

    def getlist(self, section, key, delimiter=",", **kwargs):
        val = self.get(section, key, **kwargs)
        if val is None or isinstance(val, list):
            return val
        return [item.strip() for item in str(val).split(delimiter) if item.strip()]

    def gettimedelta(self, section, key, fallback=None, **kwargs):
        val = self.get(section, key, fallback=fallback, **kwargs)
        if val in (None, ""):
            return None
        return datetime.timedelta(seconds=int(val))

    def getimport(self, section, key, **kwargs):
        raise AirflowConfigException(f"conf.getimport({section!r}, {key!r}) is not available in lithoflow")

    def getjson(self, section, key, fallback=NOTSET, **kwargs):
        import json

        val = self.get(section, key, fallback=None)
        if val is None:
            if fallback is NOTSET:
                return None
            return fallback
        return json.loads(val)

    def has_option(self, section, option, **kwargs):
        return self._get(section, option) is not None

    def getsection(self, section):
        section = section.lower()
        out = {k: v for (s, k), v in DEFAULTS.items() if s == section and v is not None}
        return out or None

    def has_section(self, section):
        return any(s == section.lower() for s, _ in DEFAULTS)

    def set(self, section, option, value):
        import os

        os.environ[f"AIRFLOW__{section.upper()}__{option.upper()}"] = str(value)

    def as_dict(self, *args, **kwargs):
        out = {}
        for (s, k), v in DEFAULTS.items():
            if v is not None:
                out.setdefault(s, {})[k] = v
        return out


conf = AirflowConfigParser()


def get(*args, **kwargs):
    return conf.get(*args, **kwargs)


def getboolean(*args, **kwargs):
    return conf.getboolean(*args, **kwargs)


def getint(*args, **kwargs):
    return conf.getint(*args, **kwargs)


def getfloat(*args, **kwargs):
    return conf.getfloat(*args, **kwargs)


def has_option(*args, **kwargs):
    return conf.has_option(*args, **kwargs)


def set(*args, **kwargs):  # noqa: A001 (Airflow's name)
    return conf.set(*args, **kwargs)


def get_airflow_home():
    import os

    return os.environ.get("AIRFLOW_HOME", os.path.expanduser("~/airflow"))


AIRFLOW_HOME = get_airflow_home()
