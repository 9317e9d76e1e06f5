"""Airflow's ``airflow.utils.timezone`` (stdlib datetimes instead of pendulum's: the values
compare, add and format the same; ``utc`` is ``datetime.timezone.utc``)."""

import datetime as dt

utc = dt.timezone.utc
UTC = utc

# Airflow's ``[core] default_timezone`` (settings.TIMEZONE): UTC unless configured.
TIMEZONE = utc


def _default_timezone():
    from airflow.configuration import conf

    name = conf.get("core", "default_timezone", fallback="utc")
    if not name or name.lower() in ("utc", "system"):
        return utc
    try:
        from zoneinfo import ZoneInfo

        return ZoneInfo(name)
    except Exception:
        return utc


def is_localized(value):
    return value.utcoffset() is not None


def is_naive(value):
    return value.utcoffset() is None


def utcnow():
    return dt.datetime.now(utc)


def utc_epoch():
    return dt.datetime(1970, 1, 1, tzinfo=utc)


def convert_to_utc(value):
    """A datetime in UTC; a naive one is taken as the default timezone's (Airflow's rule)."""
    if value is None:
        return value
    if not isinstance(value, dt.datetime):
        return value
    if not is_localized(value):
        value = value.replace(tzinfo=_default_timezone())
    return value.astimezone(utc)


def make_aware(value, timezone=None):
    if timezone is None:
        timezone = _default_timezone()
    if value is None:
        return None
    if is_localized(value):
        raise ValueError(f"make_aware expects a naive datetime, got {value}")
    return value.replace(tzinfo=timezone)


def make_naive(value, timezone=None):
    if timezone is None:
        timezone = _default_timezone()
    if is_naive(value):
        raise ValueError("make_naive() cannot be applied to a naive datetime")
    return value.astimezone(timezone).replace(tzinfo=None)


def datetime(*args, **kwargs):
    """``datetime.datetime`` made aware in the default timezone when no tzinfo is given."""
    if "tzinfo" not in kwargs and len(args) < 8:
        kwargs["tzinfo"] = _default_timezone()
    return dt.datetime(*args, **kwargs)


def parse(string, timezone=None, **kwargs):
    """An ISO 8601 date or date-time, made aware (default timezone when naive)."""
    text = string.strip()
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    value = dt.datetime.fromisoformat(text)
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone or _default_timezone())
    return value


def coerce_datetime(value, tz=None):
    if value is None:
        return None
    if isinstance(value, dt.datetime) and value.tzinfo is None:
        return value.replace(tzinfo=tz or utc)
    return value


def td_format(td_object):
    if not td_object:
        return None
    if isinstance(td_object, dt.timedelta):
        seconds = int(td_object.total_seconds())
    else:
        seconds = int(td_object)
    parts = []
    for name, size in (("y", 31536000), ("mo", 2592000), ("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size:
            value, seconds = divmod(seconds, size)
            parts.append(f"{value}{name}")
    return " ".join(parts) or "0s"


def parse_timezone(name):
    if isinstance(name, str) and name.upper() == "UTC":
        return utc
    from zoneinfo import ZoneInfo

    return ZoneInfo(name)


def from_timestamp(timestamp, tz=utc):
    return dt.datetime.fromtimestamp(timestamp, tz=tz if tz != "local" else None)


def local_timezone():
    return dt.datetime.now().astimezone().tzinfo
