"""lithoflow's fallback for ``dateutil.tz``: ``tzutc``/``UTC``, ``tzoffset``, ``tzlocal`` and
``gettz`` (IANA names through ``zoneinfo``). Installing the real python-dateutil replaces it."""

import datetime
import os
import time

_ZERO = datetime.timedelta(0)

__all__ = ["UTC", "datetime_ambiguous", "datetime_exists", "gettz", "tzlocal", "tzoffset", "tzutc"]


class tzutc(datetime.tzinfo):
    """UTC (one instance: ``tzutc() is tzutc()``)."""

    _instance = None

    def __new__(cls):
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def utcoffset(self, dt):
        return _ZERO

    def dst(self, dt):
        return _ZERO

    def tzname(self, dt):
        return "UTC"

    def fromutc(self, dt):
        return dt.replace(tzinfo=self)

    def is_ambiguous(self, dt):
        return False

    def __eq__(self, other):
        if isinstance(other, (tzutc, tzoffset)):
            return other.utcoffset(None) == _ZERO
        return NotImplemented

    def __hash__(self):
        return hash(_ZERO)

    def __repr__(self):
        return "tzutc()"

    def __reduce__(self):
        return tzutc, ()


UTC = tzutc()


class tzoffset(datetime.tzinfo):
    """A fixed offset: ``tzoffset("BRST", -10800)`` or ``tzoffset(None, timedelta(hours=2))``."""

    def __init__(self, name, offset):
        self._name = name
        if isinstance(offset, datetime.timedelta):
            offset = offset.total_seconds()
        self._offset = datetime.timedelta(seconds=offset)

    def utcoffset(self, dt):
        return self._offset

    def dst(self, dt):
        return _ZERO

    def tzname(self, dt):
        return self._name

    def fromutc(self, dt):
        return dt.replace(tzinfo=self) + self._offset

    def is_ambiguous(self, dt):
        return False

    def __eq__(self, other):
        if isinstance(other, (tzoffset, tzutc)):
            return self._offset == other.utcoffset(None)
        return NotImplemented

    def __hash__(self):
        return hash(self._offset)

    def __repr__(self):
        return "tzoffset(%r, %d)" % (self._name, int(self._offset.total_seconds()))

    def __reduce__(self):
        return tzoffset, (self._name, self._offset.total_seconds())


class tzlocal(datetime.tzinfo):
    """The machine's zone as the C library sees it (``time.timezone``/``time.altzone``)."""

    def __init__(self):
        self._std = datetime.timedelta(seconds=-time.timezone)
        self._dst = datetime.timedelta(seconds=-time.altzone) if time.daylight else self._std
        self._names = time.tzname

    def _isdst(self, dt):
        if not time.daylight or dt is None:
            return False
        stamp = time.mktime((dt.year, dt.month, dt.day, dt.hour, dt.minute, dt.second, dt.weekday(), 0, -1))
        return time.localtime(stamp).tm_isdst > 0

    def utcoffset(self, dt):
        return self._dst if self._isdst(dt) else self._std

    def dst(self, dt):
        return self._dst - self._std if self._isdst(dt) else _ZERO

    def tzname(self, dt):
        return self._names[self._isdst(dt)]

    def __eq__(self, other):
        if isinstance(other, tzlocal):
            return (self._std, self._dst) == (other._std, other._dst)
        return NotImplemented

    def __hash__(self):
        return hash((self._std, self._dst))

    def __repr__(self):
        return "tzlocal()"


def gettz(name=None):
    """A zone by name: ``None``/``""`` (``TZ`` or the machine's zone), ``"UTC"``, an IANA name
    (a ``zoneinfo.ZoneInfo``); None when unknown, as dateutil."""
    if not name:
        name = os.environ.get("TZ")
    if not name or name in (":", ":/etc/localtime"):
        return tzlocal()
    name = name.lstrip(":")
    if name.upper() in ("UTC", "GMT", "Z", "ETC/UTC", "UCT", "UNIVERSAL", "ZULU"):
        return UTC
    try:
        import zoneinfo

        return zoneinfo.ZoneInfo(name)
    except Exception:  # noqa: BLE001 - unknown name, bad path: dateutil answers None
        if name in time.tzname:
            return tzlocal()
        return None


def datetime_exists(dt, tz=None):
    tz = tz or dt.tzinfo
    if tz is None:
        raise ValueError("Datetime is naive and no time zone provided.")
    naive = dt.replace(tzinfo=None)
    back = naive.replace(tzinfo=tz).astimezone(UTC).astimezone(tz).replace(tzinfo=None)
    return back == naive


def datetime_ambiguous(dt, tz=None):
    tz = tz or dt.tzinfo
    if tz is None:
        raise ValueError("Datetime is naive and no time zone provided.")
    naive = dt.replace(tzinfo=None)
    return naive.replace(tzinfo=tz, fold=0).utcoffset() != naive.replace(tzinfo=tz, fold=1).utcoffset()
