"""A small stand-in for pendulum, for DAG files that ``import pendulum`` where pendulum
is not installed (Airflow always installs it; lithoflow does not need it).

It sits at the END of ``sys.path`` (the loader and the workers append
``<compat>/_fallback``), so an installed pendulum always wins. It covers what DAG files
use at parse time: ``pendulum.datetime(...)``, ``now``, ``today``, ``yesterday``,
``tomorrow``, ``parse``, ``duration``, ``timezone``/``Timezone``, ``UTC``, and the
``DateTime`` methods ``add``, ``subtract``, ``in_timezone``/``in_tz``, ``start_of``/``end_of``
(day, hour, month), ``to_date_string``, ``to_datetime_string``, ``to_iso8601_string``,
``isoformat``. Values are ``datetime.datetime`` subclasses with a ``zoneinfo`` zone, so
anything that takes a datetime takes them.
"""

import datetime as _dt

try:
    from zoneinfo import ZoneInfo as _ZoneInfo
except ImportError:  # Python < 3.9
    _ZoneInfo = None

__version__ = "3.0.0+lithoflow-fallback"


def timezone(name):
    """A zone by IANA name (``"UTC"``, ``"Europe/Amsterdam"``) or a fixed offset in hours."""
    if isinstance(name, _dt.tzinfo):
        return name
    if isinstance(name, (int, float)):
        return _dt.timezone(_dt.timedelta(hours=name))
    if name in ("UTC", "utc", "Etc/UTC", "Z"):
        return UTC
    if _ZoneInfo is None:
        raise ValueError("time zone %r needs zoneinfo (Python 3.9+)" % (name,))
    return _ZoneInfo(name)


Timezone = timezone
UTC = _dt.timezone.utc


def _zone(tz):
    return UTC if tz is None else timezone(tz)


class Duration(_dt.timedelta):
    """pendulum's ``Duration``: a ``timedelta`` (``in_seconds``, ``in_hours``, ...)."""

    def __new__(cls, days=0, seconds=0, microseconds=0, milliseconds=0, minutes=0, hours=0,
                weeks=0, years=0, months=0):
        return super().__new__(cls, days=days + 365 * years + 30 * months, seconds=seconds,
                               microseconds=microseconds, milliseconds=milliseconds,
                               minutes=minutes, hours=hours, weeks=weeks)

    def in_seconds(self):
        return int(self.total_seconds())

    def in_minutes(self):
        return int(self.total_seconds() // 60)

    def in_hours(self):
        return int(self.total_seconds() // 3600)

    def in_days(self):
        return self.days


def duration(**kwargs):
    return Duration(**kwargs)


def _months_added(d, months):
    month0 = d.month - 1 + months
    year = d.year + month0 // 12
    month = month0 % 12 + 1
    last = [31, 29 if year % 4 == 0 and (year % 100 != 0 or year % 400 == 0) else 28,
            31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1]
    return d.replace(year=year, month=month, day=min(d.day, last))


class DateTime(_dt.datetime):
    """pendulum's ``DateTime``: an aware ``datetime`` with pendulum's helpers."""

    @classmethod
    def _of(cls, d):
        return cls(d.year, d.month, d.day, d.hour, d.minute, d.second, d.microsecond,
                   tzinfo=d.tzinfo, fold=d.fold)

    @property
    def timezone(self):
        return self.tzinfo

    @property
    def tz(self):
        return self.tzinfo

    @property
    def timezone_name(self):
        return getattr(self.tzinfo, "key", None) or str(self.tzinfo)

    def add(self, years=0, months=0, weeks=0, days=0, hours=0, minutes=0, seconds=0,
            microseconds=0):
        d = _months_added(self, 12 * years + months) if (years or months) else self
        return DateTime._of(d + _dt.timedelta(weeks=weeks, days=days, hours=hours, minutes=minutes,
                                              seconds=seconds, microseconds=microseconds))

    def subtract(self, years=0, months=0, weeks=0, days=0, hours=0, minutes=0, seconds=0,
                 microseconds=0):
        return self.add(-years, -months, -weeks, -days, -hours, -minutes, -seconds, -microseconds)

    def in_timezone(self, tz):
        return DateTime._of(self.astimezone(timezone(tz)))

    in_tz = in_timezone

    def start_of(self, unit):
        if unit == "day":
            return DateTime._of(self.replace(hour=0, minute=0, second=0, microsecond=0))
        if unit == "hour":
            return DateTime._of(self.replace(minute=0, second=0, microsecond=0))
        if unit == "month":
            return DateTime._of(self.replace(day=1, hour=0, minute=0, second=0, microsecond=0))
        if unit == "year":
            return DateTime._of(self.replace(month=1, day=1, hour=0, minute=0, second=0, microsecond=0))
        if unit == "minute":
            return DateTime._of(self.replace(second=0, microsecond=0))
        raise ValueError("start_of(%r) is not supported by lithoflow's pendulum fallback" % (unit,))

    def end_of(self, unit):
        start = self.start_of(unit)
        step = {"day": dict(days=1), "hour": dict(hours=1), "minute": dict(minutes=1),
                "month": dict(months=1), "year": dict(years=1)}[unit]
        return start.add(**step).subtract(microseconds=1)

    def to_date_string(self):
        return self.strftime("%Y-%m-%d")

    def to_datetime_string(self):
        return self.strftime("%Y-%m-%d %H:%M:%S")

    def to_iso8601_string(self):
        return self.isoformat()

    def __add__(self, other):
        r = super().__add__(other)
        return DateTime._of(r) if isinstance(r, _dt.datetime) else r

    def __sub__(self, other):
        r = super().__sub__(other)
        if isinstance(r, _dt.datetime):
            return DateTime._of(r)
        if isinstance(r, _dt.timedelta):
            return Duration(days=r.days, seconds=r.seconds, microseconds=r.microseconds)
        return r


class Date(_dt.date):
    """pendulum's ``Date``."""


def datetime(year, month=1, day=1, hour=0, minute=0, second=0, microsecond=0, tz=UTC, **kwargs):
    """``pendulum.datetime(2024, 1, 1, tz="UTC")``: an aware datetime (UTC by default)."""
    tz = kwargs.pop("tzinfo", tz)
    fold = kwargs.pop("fold", 1)
    if kwargs:
        raise TypeError("datetime() got unexpected arguments %s" % ", ".join(sorted(kwargs)))
    return DateTime(year, month, day, hour, minute, second, microsecond, tzinfo=_zone(tz), fold=fold)


def local(year, month=1, day=1, hour=0, minute=0, second=0, microsecond=0):
    return DateTime._of(_dt.datetime(year, month, day, hour, minute, second, microsecond).astimezone())


def now(tz=None):
    return DateTime._of(_dt.datetime.now(_zone(tz) if tz is not None else UTC))


def today(tz="local"):
    zone = None if tz == "local" else _zone(tz)
    d = _dt.datetime.now(zone) if zone is not None else _dt.datetime.now().astimezone()
    return DateTime._of(d).start_of("day")


def yesterday(tz="local"):
    return today(tz).subtract(days=1)


def tomorrow(tz="local"):
    return today(tz).add(days=1)


def instance(d, tz=UTC):
    if d.tzinfo is None:
        d = d.replace(tzinfo=_zone(tz))
    return DateTime._of(d)


def from_timestamp(ts, tz=UTC):
    return DateTime._of(_dt.datetime.fromtimestamp(ts, _zone(tz)))


def parse(text, tz=UTC, strict=True, **_options):
    """ISO 8601 text (``"2024-01-01"``, ``"2024-01-01T10:00:00+02:00"``); no offset means ``tz``."""
    s = str(text).strip().replace("Z", "+00:00")
    if "T" not in s and " " not in s and len(s) == 10:
        d = _dt.datetime.fromisoformat(s + "T00:00:00")
    else:
        d = _dt.datetime.fromisoformat(s)
    return instance(d, tz)


__all__ = [
    "DateTime", "Date", "Duration", "UTC", "Timezone", "datetime", "duration", "from_timestamp",
    "instance", "local", "now", "parse", "timezone", "today", "tomorrow", "yesterday",
]
