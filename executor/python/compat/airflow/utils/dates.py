"""Airflow's ``airflow.utils.dates`` (Airflow 2; removed in Airflow 3): ``days_ago``,
``cron_presets``, ``date_range``..."""

import datetime as dt

from airflow.utils import timezone

cron_presets = {
    "@hourly": "0 * * * *",
    "@daily": "0 0 * * *",
    "@weekly": "0 0 * * 0",
    "@monthly": "0 0 1 * *",
    "@quarterly": "0 0 1 */3 *",
    "@yearly": "0 0 1 1 *",
}


def days_ago(n, hour=0, minute=0, second=0, microsecond=0):
    """Get a datetime object representing ``n`` days ago. By default the time is set to
    midnight (Airflow 2.10: today in UTC at the given time, minus ``n`` days)."""
    today = timezone.utcnow().replace(hour=hour, minute=minute, second=second, microsecond=microsecond)
    return today - dt.timedelta(days=n)


def date_range(start_date, end_date=None, num=None, delta=None):
    if not delta:
        return []
    if end_date and start_date > end_date:
        raise Exception("Wait. start_date needs to be before end_date")
    if end_date and num:
        raise Exception("Wait. Either specify end_date OR num")
    if not end_date and not num:
        end_date = timezone.utcnow()
    if isinstance(delta, str):
        raise Exception("date_range with a cron expression is not available in lithoflow")
    dates = []
    if end_date:
        while start_date <= end_date:
            dates.append(start_date)
            start_date += delta
    else:
        for _ in range(abs(num)):
            dates.append(start_date)
            if num > 0:
                start_date += delta
            else:
                start_date -= delta
        dates.sort()
    return dates


def parse_execution_date(execution_date_str):
    return timezone.parse(execution_date_str)


def infer_time_unit(time_seconds_arr):
    if not time_seconds_arr:
        return "hours"
    max_time_seconds = max(time_seconds_arr)
    if max_time_seconds <= 60 * 2:
        return "seconds"
    if max_time_seconds <= 60 * 60 * 2:
        return "minutes"
    if max_time_seconds <= 24 * 60 * 60 * 2:
        return "hours"
    return "days"


def scale_time_units(time_seconds_arr, unit):
    factor = {"minutes": 60, "hours": 3600, "days": 86400}.get(unit, 1)
    return [x / factor for x in time_seconds_arr]


def datetime_to_nano(datetime):
    if datetime is None:
        return None
    return int(datetime.timestamp() * 1_000_000_000)
