"""lithoflow's fallback for python-dateutil (an Airflow dependency lithoflow does not ship), for DAG
files that import it where it is not installed: ``dateutil.relativedelta``, ``dateutil.parser``
(``parse``, ``isoparse``) and ``dateutil.tz`` (``tzutc``, ``tzoffset``, ``tzlocal``, ``gettz``,
``UTC``); ``dateutil.rrule``, ``easter``, ``utils`` and ``zoneinfo`` import, and every use of
them raises an ImportError saying to install python-dateutil. Installing the real python-dateutil
replaces it: ``<compat>/_fallback`` is at the END of ``sys.path``, so an installed package always
wins."""

__version__ = "2.9.0+lithoflow.fallback"
__all__ = ["parser", "relativedelta", "tz"]
