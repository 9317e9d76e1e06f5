"""Airflow's ``LoggingMixin`` (``self.log``)."""

import logging


class LoggingMixin:
    _log = None
    _log_config_logger_name = None
    _logger_name = None

    def __init__(self, context=None):
        self._set_context(context)

    @property
    def log(self):
        if self._log is None:
            name = self._logger_name or f"{self.__class__.__module__}.{self.__class__.__name__}"
            self._log = logging.getLogger(name)
        return self._log

    def _set_context(self, context):
        pass


def remove_escape_codes(text):
    import re

    return re.sub(r"\x1b\[[0-9;]*m", "", text)
