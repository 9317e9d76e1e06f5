"""lithoflow's fallback for pendulum: a stand-in for DAG files that ``import pendulum`` where
pendulum is not installed (Airflow always installs it; lithoflow does not need it). Installing the
real pendulum replaces it: it sits at the END of ``sys.path`` (the loader and the workers append
``<compat>/_fallback``), so an installed pendulum always wins.

It follows pendulum 3's API and semantics for what DAG files use: ``datetime``, ``local``,
``naive``, ``date``, ``time``, ``now``, ``today``, ``yesterday``, ``tomorrow``, ``parse`` (ISO 8601;
``strict=False`` also takes what ``dateutil.parser`` reads), ``from_format``, ``from_timestamp``,
``instance``, ``duration``, ``interval``/``period``, ``timezone``/``Timezone``/``FixedTimezone``,
``UTC``, ``local_timezone``, ``pendulum.tz``, the weekday constants ``MONDAY``..``SUNDAY``, and the
``DateTime``/``Date``/``Time`` methods (``add``, ``subtract``, ``start_of``/``end_of``, ``next``,
``previous``, ``first_of``/``last_of``, ``diff``, ``format``, ``to_*_string``, ``in_timezone``,
``set``, ``on``, ``at``, ``day_of_week``, ...). Values are ``datetime.datetime``/``date``/``time``
subclasses; zones are ``zoneinfo.ZoneInfo`` subclasses (``.key`` and ``.name``) or fixed offsets.
Formatting is English only (another locale raises).
"""

import datetime as _dt
import enum as _enum

from pendulum import _formatting
from pendulum import tz  # noqa: F401  (pendulum.tz)
from pendulum.parsing.exceptions import ParserError
from pendulum.tz import UTC, FixedTimezone, Timezone, fixed_timezone, local_timezone, set_local_timezone
from pendulum.tz import timezone as _timezone
from pendulum.tz.exceptions import InvalidTimezone  # noqa: F401

__version__ = "3.0.0+lithoflow.fallback"


class WeekDay(_enum.IntEnum):
    MONDAY = 0
    TUESDAY = 1
    WEDNESDAY = 2
    THURSDAY = 3
    FRIDAY = 4
    SATURDAY = 5
    SUNDAY = 6


MONDAY, TUESDAY, WEDNESDAY, THURSDAY, FRIDAY, SATURDAY, SUNDAY = tuple(WeekDay)
YEARS_PER_CENTURY = 100
YEARS_PER_DECADE = 10
MONTHS_PER_YEAR = 12
DAYS_PER_WEEK = 7
HOURS_PER_DAY = 24
MINUTES_PER_HOUR = 60
SECONDS_PER_MINUTE = 60
SECONDS_PER_HOUR = 3600
SECONDS_PER_DAY = 86400


def timezone(name):
    """A zone by IANA name, or a fixed offset in seconds (pendulum 3: an int is seconds)."""
    return _timezone(name)


def _zone(tz):
    if tz is None:
        return UTC
    if tz == "local":
        return local_timezone()
    return _timezone(tz)


def _is_leap(year):
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


def _days_in_month(year, month):
    return [31, 29 if _is_leap(year) else 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1]


def _months_added(d, months):
    month0 = d.month - 1 + months
    year = d.year + month0 // 12
    month = month0 % 12 + 1
    return d.replace(year=year, month=month, day=min(d.day, _days_in_month(year, month)))


def _plain(d):
    """The same instant as a ``datetime.datetime`` (not a subclass)."""
    return _dt.datetime(d.year, d.month, d.day, d.hour, d.minute, d.second, d.microsecond, tzinfo=d.tzinfo,
                        fold=d.fold)


def _normalized(d):
    """A wall time a zone skips (a DST gap) moved forward by the gap, as pendulum does; an
    ambiguous one keeps its ``fold`` (pendulum's default, 1, is the later one)."""
    tz = d.tzinfo
    if tz is None or isinstance(tz, (FixedTimezone, _dt.timezone)):
        return d
    pre = _dt.datetime.replace(d, fold=0)
    if pre.utcoffset() == _dt.datetime.replace(d, fold=1).utcoffset():
        return d
    moved = _dt.datetime.astimezone(_dt.datetime.astimezone(pre, _dt.timezone.utc), tz)
    if _dt.datetime.replace(moved, tzinfo=None, fold=0) != _dt.datetime.replace(d, tzinfo=None, fold=0):
        return moved  # a gap
    return d


class _DateMixin:
    """What ``Date`` and ``DateTime`` share."""

    @property
    def day_of_week(self):
        return WeekDay(self.weekday())

    @property
    def day_of_year(self):
        return self.timetuple().tm_yday

    @property
    def week_of_year(self):
        return self.isocalendar()[1]

    @property
    def week_of_month(self):
        first = self.replace(day=1)
        return (self.day + first.weekday() - 1) // 7 + 1

    @property
    def days_in_month(self):
        return _days_in_month(self.year, self.month)

    @property
    def quarter(self):
        return (self.month - 1) // 3 + 1

    def is_leap_year(self):
        return _is_leap(self.year)

    def is_long_year(self):
        return _dt.date(self.year, 12, 28).isocalendar()[1] == 53

    def is_same_day(self, other):
        return (self.year, self.month, self.day) == (other.year, other.month, other.day)

    def is_birthday(self, other=None):
        other = other if other is not None else today()
        return (self.month, self.day) == (other.month, other.day)

    is_anniversary = is_birthday

    def format(self, fmt, locale=None):
        return _formatting.format(self, fmt, locale)

    def __format__(self, spec):
        return self.format(spec) if spec and "%" not in spec else super().__format__(spec)

    def to_date_string(self):
        return "%04d-%02d-%02d" % (self.year, self.month, self.day)

    def to_formatted_date_string(self):
        return self.format("MMM DD, YYYY")

    def _weekday_moved(self, day_of_week, step):
        if day_of_week is None:
            day_of_week = self.weekday()
        if not 0 <= int(day_of_week) <= 6:
            raise ValueError("Invalid day of week")
        delta = (int(day_of_week) - self.weekday()) % 7
        if step > 0:
            days = delta or 7
        else:
            days = -((self.weekday() - int(day_of_week)) % 7 or 7)
        return self.add(days=days)


class Date(_DateMixin, _dt.date):
    """pendulum's ``Date``: a ``datetime.date``."""

    @classmethod
    def _of(cls, d):
        return cls(d.year, d.month, d.day)

    def __repr__(self):
        return "Date(%d, %d, %d)" % (self.year, self.month, self.day)

    def add(self, years=0, months=0, weeks=0, days=0):
        d = _months_added(self, 12 * years + months) if (years or months) else self
        return Date._of(_dt.date.__add__(d, _dt.timedelta(weeks=weeks, days=days)))

    def subtract(self, years=0, months=0, weeks=0, days=0):
        return self.add(-years, -months, -weeks, -days)

    def replace(self, year=None, month=None, day=None):
        return Date._of(_dt.date.replace(self, year or self.year, month or self.month, day or self.day))

    def start_of(self, unit):
        if unit == "day":
            return self
        if unit == "week":
            return self.subtract(days=self.weekday())
        if unit == "month":
            return self.replace(day=1)
        if unit == "year":
            return Date(self.year, 1, 1)
        if unit == "decade":
            return Date(self.year - self.year % 10, 1, 1)
        if unit == "century":
            return Date(self.year - (self.year - 1) % 100, 1, 1)
        raise ValueError('Invalid unit "%s" for start_of()' % unit)

    def end_of(self, unit):
        if unit == "day":
            return self
        if unit == "week":
            return self.add(days=6 - self.weekday())
        if unit == "month":
            return self.replace(day=self.days_in_month)
        if unit == "year":
            return Date(self.year, 12, 31)
        if unit == "decade":
            return Date(self.year - self.year % 10 + 9, 12, 31)
        if unit == "century":
            return Date(self.year - (self.year - 1) % 100 + 99, 12, 31)
        raise ValueError('Invalid unit "%s" for end_of()' % unit)

    def next(self, day_of_week=None):
        return self._weekday_moved(day_of_week, 1)

    def previous(self, day_of_week=None):
        return self._weekday_moved(day_of_week, -1)

    def diff(self, dt=None, abs=True):
        return Interval(self, Date.today() if dt is None else dt, absolute=abs)

    def __add__(self, other):
        r = _dt.date.__add__(self, other)
        return Date._of(r) if isinstance(r, _dt.date) else r

    __radd__ = __add__

    def __sub__(self, other):
        if isinstance(other, _dt.timedelta):
            return Date._of(_dt.date.__sub__(self, other))
        if isinstance(other, _dt.date) and not isinstance(other, _dt.datetime):
            return Interval(other, self)
        return NotImplemented

    @property
    def age(self):
        return self.diff(abs=False).in_years()


class Time(_dt.time):
    """pendulum's ``Time``: a ``datetime.time``."""

    @classmethod
    def _of(cls, t):
        return cls(t.hour, t.minute, t.second, t.microsecond, tzinfo=t.tzinfo, fold=t.fold)

    def __repr__(self):
        us = ", %d" % self.microsecond if self.microsecond else ""
        tz = ", tzinfo=%r" % self.tzinfo if self.tzinfo else ""
        return "Time(%d, %d, %d%s%s)" % (self.hour, self.minute, self.second, us, tz)

    def format(self, fmt, locale=None):
        return _formatting.format(self, fmt, locale)

    def add(self, hours=0, minutes=0, seconds=0, microseconds=0):
        return self + _dt.timedelta(hours=hours, minutes=minutes, seconds=seconds, microseconds=microseconds)

    def subtract(self, hours=0, minutes=0, seconds=0, microseconds=0):
        return self.add(-hours, -minutes, -seconds, -microseconds)

    def __add__(self, other):
        if not isinstance(other, _dt.timedelta):
            return NotImplemented
        base = _dt.datetime.combine(_dt.date(2000, 1, 1), self.replace(tzinfo=None))
        return Time._of((base + other).time().replace(tzinfo=self.tzinfo))

    __radd__ = __add__

    def __sub__(self, other):
        if isinstance(other, _dt.timedelta):
            return self + -other
        if isinstance(other, _dt.time):
            day = _dt.date(2000, 1, 1)
            d = _dt.datetime.combine(day, self.replace(tzinfo=None)) - \
                _dt.datetime.combine(day, other.replace(tzinfo=None))
            return Duration(seconds=d.total_seconds())
        return NotImplemented

    def replace(self, *args, **kwargs):
        return Time._of(_dt.time.replace(self, *args, **kwargs))


class DateTime(_DateMixin, _dt.datetime):
    """pendulum's ``DateTime``: a ``datetime.datetime`` with pendulum's helpers."""

    @classmethod
    def _of(cls, d):
        if type(d) is cls:
            return d
        return cls(d.year, d.month, d.day, d.hour, d.minute, d.second, d.microsecond,
                   tzinfo=d.tzinfo, fold=d.fold)

    @classmethod
    def create(cls, year, month=1, day=1, hour=0, minute=0, second=0, microsecond=0, tz=UTC, fold=1):
        return datetime(year, month, day, hour, minute, second, microsecond, tz=tz, fold=fold)

    @classmethod
    def instance(cls, d, tz=UTC):
        return instance(d, tz)

    @classmethod
    def now(cls, tz=None):
        return now(tz)

    @classmethod
    def utcnow(cls):
        return now(UTC)

    @classmethod
    def today(cls):
        return now()

    def __repr__(self):
        parts = "%d, %d, %d, %d, %d, %d" % (self.year, self.month, self.day, self.hour, self.minute,
                                            self.second)
        if self.microsecond:
            parts += ", %d" % self.microsecond
        if self.tzinfo is not None:
            parts += ", tzinfo=%r" % (self.tzinfo,)
        return "DateTime(%s)" % parts

    def __str__(self):
        return self.isoformat(" ")

    # -- properties --
    @property
    def timezone(self):
        return self.tzinfo

    @property
    def tz(self):
        return self.tzinfo

    @property
    def timezone_name(self):
        tz = self.tzinfo
        if tz is None:
            return None
        return getattr(tz, "name", None) or getattr(tz, "key", None) or str(tz)

    @property
    def offset(self):
        off = self.utcoffset()
        return None if off is None else int(off.total_seconds())

    @property
    def offset_hours(self):
        off = self.utcoffset()
        return None if off is None else off.total_seconds() / 3600

    @property
    def int_timestamp(self):
        return int(self.timestamp())

    @property
    def float_timestamp(self):
        return self.timestamp()

    @property
    def age(self):
        return self.diff(abs=False).in_years() if self < now(self.tzinfo) else 0

    def is_utc(self):
        return self.offset == 0

    def is_local(self):
        return self.offset == now(local_timezone()).offset

    def is_dst(self):
        d = self.dst()
        return bool(d)

    def is_past(self):
        return self < now(self.tzinfo or UTC)

    def is_future(self):
        return self > now(self.tzinfo or UTC)

    def date(self):
        return Date(self.year, self.month, self.day)

    def time(self):
        return Time(self.hour, self.minute, self.second, self.microsecond)

    def naive(self):
        return DateTime(self.year, self.month, self.day, self.hour, self.minute, self.second, self.microsecond)

    # -- arithmetic: date units on the wall clock, time units in absolute time (pendulum's rule) --
    def add(self, years=0, months=0, weeks=0, days=0, hours=0, minutes=0, seconds=0, microseconds=0):
        """pendulum's rule: with a unit of variable length (years, months, weeks, days) everything is
        added on the wall clock (a skipped time then moves forward); with only hours .. microseconds,
        in absolute time."""
        # On plain datetimes: the C datetime's own arithmetic (astimezone) calls back into
        # operators, which must not be these.
        wall = _dt.datetime(self.year, self.month, self.day, self.hour, self.minute, self.second,
                            self.microsecond)
        delta = _dt.timedelta(weeks=weeks, days=days, hours=hours, minutes=minutes, seconds=seconds,
                              microseconds=microseconds)
        if years or months or weeks or days or self.tzinfo is None:
            if years or months:
                wall = _months_added(wall, 12 * years + months)
            wall = wall + delta
            d = _normalized(wall.replace(tzinfo=self.tzinfo, fold=1 if self.tzinfo is not None else 0))
            return DateTime._of(d)
        utc = _plain(self).astimezone(_dt.timezone.utc) + delta
        return DateTime._of(utc.astimezone(self.tzinfo))

    def subtract(self, years=0, months=0, weeks=0, days=0, hours=0, minutes=0, seconds=0,
                 microseconds=0):
        return self.add(-years, -months, -weeks, -days, -hours, -minutes, -seconds, -microseconds)

    def __add__(self, other):
        if not isinstance(other, _dt.timedelta):
            return NotImplemented
        return self.add(**_parts_to_add(other))

    __radd__ = __add__

    def __sub__(self, other):
        if isinstance(other, _dt.timedelta):
            return self.subtract(**_parts_to_add(other))
        if isinstance(other, _dt.datetime):
            return Interval(other, self)
        return NotImplemented

    def __rsub__(self, other):
        if isinstance(other, _dt.datetime):
            return Interval(self, other)
        return NotImplemented

    # -- zones and fields --
    def in_timezone(self, tz):
        return DateTime._of(self.astimezone(_zone(tz)))

    in_tz = in_timezone

    def astimezone(self, tz=None):
        return DateTime._of(_plain(self).astimezone(tz))

    def replace(self, *args, **kwargs):
        return DateTime._of(_normalized(_plain(self).replace(*args, **kwargs)))

    def set(self, year=None, month=None, day=None, hour=None, minute=None, second=None,
            microsecond=None, tz=None):
        fields = dict(year=year, month=month, day=day, hour=hour, minute=minute, second=second,
                      microsecond=microsecond)
        d = self.replace(**{k: v for k, v in fields.items() if v is not None})
        if tz is not None:
            d = d.replace(tzinfo=_zone(tz))
        return d

    def on(self, year, month, day):
        return self.set(year=int(year), month=int(month), day=int(day))

    def at(self, hour, minute=0, second=0, microsecond=0):
        return self.set(hour=hour, minute=minute, second=second, microsecond=microsecond)

    def start_of(self, unit):
        zero = dict(hour=0, minute=0, second=0, microsecond=0)
        if unit == "second":
            return self.replace(microsecond=0)
        if unit == "minute":
            return self.replace(second=0, microsecond=0)
        if unit == "hour":
            return self.replace(minute=0, second=0, microsecond=0)
        if unit == "day":
            return self.replace(**zero)
        if unit == "week":
            return self.replace(**zero).subtract(days=self.weekday())
        if unit == "month":
            return self.replace(day=1, **zero)
        if unit == "year":
            return self.replace(month=1, day=1, **zero)
        if unit == "decade":
            return self.replace(year=self.year - self.year % 10, month=1, day=1, **zero)
        if unit == "century":
            return self.replace(year=self.year - (self.year - 1) % 100, month=1, day=1, **zero)
        raise ValueError('Invalid unit "%s" for start_of()' % unit)

    def end_of(self, unit):
        last = dict(hour=23, minute=59, second=59, microsecond=999999)
        if unit == "second":
            return self.replace(microsecond=999999)
        if unit == "minute":
            return self.replace(second=59, microsecond=999999)
        if unit == "hour":
            return self.replace(minute=59, second=59, microsecond=999999)
        if unit == "day":
            return self.replace(**last)
        if unit == "week":
            return self.replace(**last).add(days=6 - self.weekday())
        if unit == "month":
            return self.replace(day=self.days_in_month, **last)
        if unit == "year":
            return self.replace(month=12, day=31, **last)
        if unit == "decade":
            return self.replace(year=self.year - self.year % 10 + 9, month=12, day=31, **last)
        if unit == "century":
            return self.replace(year=self.year - (self.year - 1) % 100 + 99, month=12, day=31, **last)
        raise ValueError('Invalid unit "%s" for end_of()' % unit)

    def next(self, day_of_week=None, keep_time=False):
        d = self._weekday_moved(day_of_week, 1)
        return d if keep_time else d.start_of("day")

    def previous(self, day_of_week=None, keep_time=False):
        d = self._weekday_moved(day_of_week, -1)
        return d if keep_time else d.start_of("day")

    def first_of(self, unit, day_of_week=None):
        if unit == "month":
            d = self.start_of("month")
        elif unit == "quarter":
            d = self.replace(month=3 * (self.quarter - 1) + 1).start_of("month")
        elif unit == "year":
            d = self.start_of("year")
        else:
            raise ValueError('Invalid unit "%s" for first_of()' % unit)
        if day_of_week is not None and d.weekday() != int(day_of_week):
            d = d.next(day_of_week)
        return d

    def last_of(self, unit, day_of_week=None):
        if unit == "month":
            d = self.end_of("month").start_of("day")
        elif unit == "quarter":
            d = self.replace(day=1, month=3 * self.quarter).end_of("month").start_of("day")
        elif unit == "year":
            d = self.end_of("year").start_of("day")
        else:
            raise ValueError('Invalid unit "%s" for last_of()' % unit)
        if day_of_week is not None and d.weekday() != int(day_of_week):
            d = d.previous(day_of_week)
        return d

    def diff(self, dt=None, abs=True):
        return Interval(self, now(self.tzinfo or UTC) if dt is None else dt, absolute=abs)

    def diff_for_humans(self, other=None, absolute=False, locale=None):
        _formatting._check_locale(locale)
        is_now = other is None
        if is_now:
            other = now(self.tzinfo or UTC)
        return _humanized(self.diff(other), is_now, absolute)

    def closest(self, *dts):
        return min(dts, key=lambda d: abs(self - d))

    def farthest(self, *dts):
        return max(dts, key=lambda d: abs(self - d))

    def average(self, dt=None):
        dt = now(self.tzinfo or UTC) if dt is None else dt
        return self.add(microseconds=int((dt - self).total_seconds() * 1e6 / 2))

    # -- strings --
    def to_time_string(self):
        return self.format("HH:mm:ss")

    def to_datetime_string(self):
        return self.format("YYYY-MM-DD HH:mm:ss")

    def to_day_datetime_string(self):
        return self.format("ddd, MMM D, YYYY h:mm A")

    def to_atom_string(self):
        return self.format("YYYY-MM-DDTHH:mm:ssZ")

    to_w3c_string = to_atom_string

    def to_cookie_string(self):
        return self.format("dddd, DD-MMM-YYYY HH:mm:ss zz")

    def to_iso8601_string(self):
        text = self.isoformat("T")
        return text[:-6] + "Z" if self.offset == 0 and text.endswith("+00:00") else text

    def to_rfc822_string(self):
        return self.format("ddd, DD MMM YY HH:mm:ss ZZ")

    def to_rfc850_string(self):
        return self.format("dddd, DD-MMM-YY HH:mm:ss zz")

    to_rfc1036_string = to_rfc822_string

    def to_rfc1123_string(self):
        return self.format("ddd, DD MMM YYYY HH:mm:ss ZZ")

    to_rfc2822_string = to_rfc1123_string
    to_rss_string = to_rfc1123_string

    def to_rfc3339_string(self):
        return self.isoformat("T")


_TD_DAYS = _dt.timedelta.days.__get__
_TD_SECONDS = _dt.timedelta.seconds.__get__
_TD_MICROSECONDS = _dt.timedelta.microseconds.__get__


def _plain_delta(td):
    """A ``timedelta`` of the same length (Duration's ``seconds`` are pendulum's, not timedelta's)."""
    return _dt.timedelta(_TD_DAYS(td), _TD_SECONDS(td), _TD_MICROSECONDS(td))


class Duration(_dt.timedelta):
    """pendulum's ``Duration``: a ``timedelta`` that remembers its years and months (counted as 365
    and 30 days in the total, as pendulum does). As in pendulum, ``seconds``, ``microseconds`` and
    the parts (``weeks``, ``remaining_days``, ``hours``, ``minutes``, ``remaining_seconds``) carry
    the duration's sign (``duration(hours=-25).seconds == -3600``); ``days`` is timedelta's."""

    def __new__(cls, days=0, seconds=0, microseconds=0, milliseconds=0, minutes=0, hours=0, weeks=0,
                years=0, months=0):
        if not isinstance(years, int) or not isinstance(months, int):
            raise ValueError("Float year and months are not supported")
        self = super().__new__(cls, days=days + 365 * years + 30 * months, seconds=seconds,
                               microseconds=microseconds, milliseconds=milliseconds, minutes=minutes,
                               hours=hours, weeks=weeks)
        self._set_parts(_dt.timedelta.total_seconds(self) - (365 * years + 30 * months) * 86400)
        self._years = years
        self._months = months
        self._signature = dict(years=years, months=months, weeks=weeks, days=days, hours=hours,
                               minutes=minutes, seconds=seconds,
                               microseconds=microseconds + milliseconds * 1000)
        return self

    def _set_parts(self, total):
        m = -1 if total < 0 else 1
        self._sign_ = m
        self._microseconds = round(total % m * 1e6)
        self._seconds = abs(int(total)) % 86400 * m
        self._days = abs(int(total)) // 86400 * m
        self._remaining_days = abs(self._days) % 7 * m
        self._weeks = abs(self._days) // 7 * m

    @property
    def years(self):
        return self._years

    @property
    def months(self):
        return self._months

    @property
    def weeks(self):
        return self._weeks

    @property
    def remaining_days(self):
        return self._remaining_days

    @property
    def hours(self):
        return _sgn(self._seconds) * (abs(self._seconds) // 3600 % 24)

    @property
    def minutes(self):
        return _sgn(self._seconds) * (abs(self._seconds) // 60 % 60)

    @property
    def seconds(self):
        return self._seconds

    @property
    def remaining_seconds(self):
        return _sgn(self._seconds) * (abs(self._seconds) % 60)

    @property
    def microseconds(self):
        return self._microseconds

    @property
    def invert(self):
        return _dt.timedelta.total_seconds(self) < 0

    def total_weeks(self):
        return self.total_days() / 7

    def total_days(self):
        return self.total_seconds() / 86400

    def total_hours(self):
        return self.total_seconds() / 3600

    def total_minutes(self):
        return self.total_seconds() / 60

    def in_weeks(self):
        return _trunc(self.total_weeks())

    def in_days(self):
        return _trunc(self.total_days())

    def in_hours(self):
        return _trunc(self.total_hours())

    def in_minutes(self):
        return _trunc(self.total_minutes())

    def in_seconds(self):
        return _trunc(self.total_seconds())

    def in_words(self, locale=None, separator=" "):
        _formatting._check_locale(locale)
        parts = []
        for unit, n in (("year", self.years), ("month", self.months), ("week", self.weeks),
                        ("day", self.remaining_days), ("hour", self.hours), ("minute", self.minutes),
                        ("second", self.remaining_seconds)):
            if n:
                parts.append("%d %s%s" % (n, unit, "" if abs(n) == 1 else "s"))
        if not parts:
            us = abs(self.microseconds)
            return "%d microsecond%s" % (self.microseconds, "" if us == 1 else "s") if us else "0 microseconds"
        return separator.join(parts)

    def __str__(self):
        return self.in_words()

    def __repr__(self):
        fields = [("years", self.years), ("months", self.months), ("weeks", self.weeks),
                  ("days", self.remaining_days), ("hours", self.hours), ("minutes", self.minutes),
                  ("seconds", self.remaining_seconds), ("microseconds", self.microseconds)]
        return "Duration(%s)" % ", ".join("%s=%d" % f for f in fields if f[1])

    def as_timedelta(self):
        return _plain_delta(self)

    def __neg__(self):
        return Duration(seconds=-_dt.timedelta.total_seconds(self) + (365 * self._years + 30 * self._months) * 86400,
                        years=-self._years, months=-self._months)

    def __mul__(self, other):
        if isinstance(other, int):
            own = _dt.timedelta.total_seconds(self) - (365 * self._years + 30 * self._months) * 86400
            return Duration(seconds=own * other, years=self._years * other, months=self._months * other)
        return _dt.timedelta.__mul__(_plain_delta(self), other)

    __rmul__ = __mul__

    def __reduce__(self):
        own = _dt.timedelta.total_seconds(self) - (365 * self._years + 30 * self._months) * 86400
        return _duration_of, (own, self._years, self._months)


def _duration_of(seconds, years, months):
    return Duration(seconds=seconds, years=years, months=months)


def _parts_to_add(delta):
    """What pendulum adds for ``dt + delta``: an Interval's calendar parts, a Duration's arguments,
    a timedelta's seconds (absolute time)."""
    if isinstance(delta, Interval):
        return dict(years=delta.years, months=delta.months, weeks=delta.weeks, days=delta.remaining_days,
                    hours=delta.hours, minutes=delta.minutes, seconds=delta.remaining_seconds,
                    microseconds=delta.microseconds)
    if isinstance(delta, Duration):
        return dict(delta._signature)
    return dict(seconds=_dt.timedelta.total_seconds(delta))


def _humanized(diff, is_now, absolute):
    """pendulum's English ``diff_for_humans`` text of an absolute Interval."""
    rest = diff.weeks * 7 + diff.remaining_days
    if diff.years > 0:
        unit, count = "year", diff.years + (1 if diff.months > 6 else 0)
    elif diff.months == 11 and rest > 15:
        unit, count = "year", 1
    elif diff.months > 0:
        unit, count = "month", diff.months + (1 if rest >= 27 else 0)
    elif diff.weeks > 0:
        unit, count = "week", diff.weeks + (1 if diff.remaining_days > 3 else 0)
    elif diff.remaining_days > 0:
        unit, count = "day", diff.remaining_days + (1 if diff.hours >= 22 else 0)
    elif diff.hours > 0:
        unit, count = "hour", diff.hours
    elif diff.minutes > 0:
        unit, count = "minute", diff.minutes
    elif 10 < diff.remaining_seconds <= 59:
        unit, count = "second", diff.remaining_seconds
    else:
        unit, count = None, 0
    if unit is None:
        text = "a few seconds"
    else:
        count = count or 1
        text = "%d %s%s" % (count, unit, "" if count == 1 else "s")
    if absolute:
        return text
    if is_now:
        return ("in " + text) if diff.invert else (text + " ago")
    return text + (" after" if diff.invert else " before")


def _trunc(x):
    return int(x)


def _sgn(x):
    return -1 if x < 0 else 1


def _zone_key(tz):
    return getattr(tz, "key", None) or getattr(tz, "name", None)


def _precise_diff(a, b):
    """pendulum's calendar difference from ``a`` to ``b``: (years, months, days, hours, minutes,
    seconds, microseconds, total calendar days), each with the sign of ``b - a``. Times are
    compared on the wall clock when both are in the same named zone and on different days,
    else in UTC."""
    if a == b:
        return (0,) * 8
    sign = 1
    if a > b:
        a, b, sign = b, a, -1
    total_days = _dt.date(b.year, b.month, b.day).toordinal() - _dt.date(a.year, a.month, a.day).toordinal()
    hours = minutes = seconds = micros = days = 0
    if isinstance(b, _dt.datetime):
        if isinstance(a, _dt.datetime):
            za, zb = _zone_key(a.tzinfo), _zone_key(b.tzinfo)
            if not (za is not None and za == zb) or total_days == 0:
                if a.utcoffset():
                    a = _plain(a) - a.utcoffset()
                if b.utcoffset():
                    b = _plain(b) - b.utcoffset()
            hours, minutes = b.hour - a.hour, b.minute - a.minute
            seconds, micros = b.second - a.second, b.microsecond - a.microsecond
        else:
            hours, minutes, seconds, micros = b.hour, b.minute, b.second, b.microsecond
        if micros < 0:
            micros, seconds = micros + 1000000, seconds - 1
        if seconds < 0:
            seconds, minutes = seconds + 60, minutes - 1
        if minutes < 0:
            minutes, hours = minutes + 60, hours - 1
        if hours < 0:
            hours, days = hours + 24, days - 1
    years, months = b.year - a.year, b.month - a.month
    days += b.day - a.day
    if days < 0:
        year, month = (b.year - 1, 12) if b.month == 1 else (b.year, b.month - 1)
        in_last = _days_in_month(year, month)
        in_this = _days_in_month(b.year, b.month)
        if days < in_this - in_last:
            days += a.day if in_last < a.day else in_last
        elif days == in_this - in_last:
            days, months = 0, months + 1
        else:
            days += in_last
        months -= 1
    if months < 0:
        months, years = months + 12, years - 1
    return tuple(sign * x for x in (years, months, days, hours, minutes, seconds, micros, total_days))


class Interval(Duration):
    """pendulum 3's ``Interval`` (pendulum 2's ``Period``): the duration between two dates that
    remembers them: ``start``, ``end``, calendar ``years``/``months``/``in_days``,
    ``range(unit)``, iteration."""

    def __new__(cls, start, end, absolute=False):
        is_dt = isinstance(start, _dt.datetime)
        if is_dt != isinstance(end, _dt.datetime):
            raise TypeError("an interval needs two datetimes or two dates")
        start = instance(start, tz=None) if is_dt else Date._of(start)
        end = instance(end, tz=None) if is_dt else Date._of(end)
        invert = start > end
        if absolute and invert:
            start, end = end, start
        if is_dt:
            a, b = _plain(start), _plain(end)
            if a.tzinfo is not None and b.tzinfo is not None:  # absolute time, also in one zone
                a, b = a.astimezone(_dt.timezone.utc), b.astimezone(_dt.timezone.utc)
            delta = b - a
        else:
            delta = _dt.date(end.year, end.month, end.day) - _dt.date(start.year, start.month, start.day)
        self = _dt.timedelta.__new__(cls, days=delta.days, seconds=delta.seconds,
                                     microseconds=delta.microseconds)
        self._set_parts(delta.total_seconds())
        self._start, self._end, self._absolute = start, end, absolute
        self._invert_ = invert
        self._diff = _precise_diff(start, end)
        self._years, self._months = self._diff[0], self._diff[1]
        return self

    @property
    def weeks(self):
        d = self._diff[2]
        return abs(d) // 7 * _sgn(d)

    @property
    def days(self):
        return self._days

    @property
    def invert(self):
        return self._invert_

    @property
    def remaining_days(self):
        return abs(self._diff[2]) % 7 * _sgn(self._days)

    @property
    def hours(self):
        return self._diff[3]

    @property
    def minutes(self):
        return self._diff[4]

    @property
    def start(self):
        return self._start

    @property
    def end(self):
        return self._end

    def in_years(self):
        return self._years

    def in_months(self):
        return self._years * 12 + self._months

    def in_weeks(self):
        days = self.in_days()
        return _sgn(days) * (abs(days) // 7)

    def in_days(self):
        return self._diff[7]

    def range(self, unit, amount=1):
        if not unit.endswith("s"):
            unit += "s"
        if unit not in ("years", "months", "weeks", "days", "hours", "minutes", "seconds"):
            raise ValueError("Invalid unit %r for range()" % unit)
        start, end = self._start, self._end
        step = amount if start <= end else -amount
        i = 0
        while True:
            d = start.add(**{unit: i * step})
            if (step > 0 and d > end) or (step < 0 and d < end):
                return
            yield d
            i += 1

    def __iter__(self):
        return self.range("days")

    def __contains__(self, item):
        return self._start <= item <= self._end

    def as_duration(self):
        return Duration(seconds=self.total_seconds())

    def __repr__(self):
        return "<Interval [%s -> %s]>" % (self._start, self._end)

    __str__ = __repr__

    def __neg__(self):
        return Interval(self._end, self._start, self._absolute)

    def __reduce__(self):
        return Interval, (self._start, self._end, self._absolute)


Period = Interval


# --- module functions ---------------------------------------------------------------------------

def datetime(year, month=1, day=1, hour=0, minute=0, second=0, microsecond=0, tz=UTC, fold=1,
             raise_on_unknown_times=False, **kwargs):
    """``pendulum.datetime(2024, 1, 1, tz="Europe/Paris")``: an aware DateTime (UTC by default)."""
    if "tzinfo" in kwargs:
        tz = kwargs.pop("tzinfo")
    if kwargs:
        raise TypeError("datetime() got unexpected arguments %s" % ", ".join(sorted(kwargs)))
    zone = None if tz is None else _zone(tz)
    return DateTime._of(_normalized(_dt.datetime(year, month, day, hour, minute, second, microsecond,
                                                 tzinfo=zone, fold=fold)))


def local(year, month=1, day=1, hour=0, minute=0, second=0, microsecond=0):
    return datetime(year, month, day, hour, minute, second, microsecond, tz=local_timezone())


def naive(year, month=1, day=1, hour=0, minute=0, second=0, microsecond=0, fold=1):
    return DateTime(year, month, day, hour, minute, second, microsecond, fold=fold)


def date(year, month, day):
    return Date(year, month, day)


def time(hour, minute=0, second=0, microsecond=0):
    return Time(hour, minute, second, microsecond)


def now(tz=None):
    """The current time in ``tz`` (default: the machine's zone, as pendulum)."""
    zone = local_timezone() if tz is None else _zone(tz)
    return DateTime._of(_dt.datetime.now(_dt.timezone.utc).astimezone(zone))


def today(tz="local"):
    return now(tz).start_of("day")


def yesterday(tz="local"):
    return today(tz).subtract(days=1)


def tomorrow(tz="local"):
    return today(tz).add(days=1)


def instance(obj, tz=UTC):
    """A DateTime (Date, Time) of a ``datetime`` (``date``, ``time``); a naive datetime is read in ``tz``."""
    if isinstance(obj, DateTime):
        return obj
    if isinstance(obj, _dt.datetime):
        zone = obj.tzinfo
        if zone is None and tz is not None:
            zone = _zone(tz)
        elif isinstance(zone, _dt.timezone):
            off = int(zone.utcoffset(None).total_seconds())
            zone = UTC if off == 0 else FixedTimezone(off)
        return DateTime(obj.year, obj.month, obj.day, obj.hour, obj.minute, obj.second, obj.microsecond,
                        tzinfo=zone, fold=obj.fold)
    if isinstance(obj, _dt.date):
        return Date._of(obj)
    if isinstance(obj, _dt.time):
        return Time._of(obj)
    raise ValueError("instance() only accepts datetime objects.")


def from_timestamp(timestamp, tz=UTC):
    return DateTime._of(_dt.datetime.fromtimestamp(timestamp, _dt.timezone.utc).astimezone(_zone(tz)))


def from_format(string, fmt, tz=UTC, locale=None):
    """``pendulum.from_format("31/01/2024", "DD/MM/YYYY")`` (pendulum's tokens)."""
    f = _formatting.parse_format(string, fmt, locale)
    if "timestamp" in f:
        return from_timestamp(f["timestamp"], tz)
    zone = _zone(f["zone"]) if "zone" in f else _zone(tz)
    if "offset" in f:
        zone = fixed_timezone(f["offset"])
    base = now(zone)
    year = f.get("year", base.year)
    if "day_of_year" in f:
        d = _dt.date(year, 1, 1) + _dt.timedelta(days=f["day_of_year"] - 1)
        month, day = d.month, d.day
    else:
        month, day = f.get("month", 1), f.get("day", 1)
    return datetime(year, month, day, f.get("hour", 0), f.get("minute", 0), f.get("second", 0),
                    f.get("microsecond", 0), tz=zone)


def parse(text, tz=UTC, strict=True, exact=False, **options):
    """ISO 8601 text (a date, a date-time, a time, a duration ``P...``, an interval ``a/b``); a
    date-time without an offset is read in ``tz``. ``strict=False`` also reads what
    ``dateutil.parser.parse`` reads. ``exact=True`` returns a Date or Time for a date or a time."""
    try:
        found = _formatting.parse_iso(str(text))
    except ParserError:
        if strict:
            raise
        from dateutil import parser as _dparser

        try:
            return instance(_dparser.parse(str(text)), tz)
        except (ValueError, OverflowError) as e:
            raise ParserError("Unable to parse string [%s]" % text) from e
    kind = found[0]
    if kind == "duration":
        f = found[1]
        return Duration(years=int(f.get("years", 0)), months=int(f.get("months", 0)),
                        weeks=f.get("weeks", 0), days=f.get("days", 0), hours=f.get("hours", 0),
                        minutes=f.get("minutes", 0), seconds=f.get("seconds", 0))
    if kind == "interval":
        a, b = found[1], found[2]
        start = parse(a, tz=tz) if not a.startswith("P") else None
        end = parse(b, tz=tz) if not b.startswith("P") else None
        if start is None:
            return Interval(end - parse(a), end)
        if end is None:
            return Interval(start, start + parse(b))
        return Interval(start, end)
    if kind == "date":
        d = found[1]
        if exact:
            return Date._of(d)
        return datetime(d.year, d.month, d.day, tz=tz)
    if kind == "time":
        t, off = found[1], found[2]
        if exact:
            return Time._of(t)
        base = today(tz)
        zone = fixed_timezone(off) if off is not None else tz
        return datetime(base.year, base.month, base.day, t.hour, t.minute, t.second, t.microsecond, tz=zone)
    d, t, off, extra = found[1], found[2], found[3], found[4]
    zone = fixed_timezone(off) if off is not None else tz
    r = datetime(d.year, d.month, d.day, t.hour, t.minute, t.second, t.microsecond, tz=zone)
    return r.add(days=extra.days) if extra else r


def duration(days=0, seconds=0, microseconds=0, milliseconds=0, minutes=0, hours=0, weeks=0, years=0,
             months=0):
    return Duration(days=days, seconds=seconds, microseconds=microseconds, milliseconds=milliseconds,
                    minutes=minutes, hours=hours, weeks=weeks, years=years, months=months)


def interval(start, end, absolute=False):
    return Interval(start, end, absolute=absolute)


period = interval


# pendulum 1's names (Airflow 1.10 DAG files): pendulum.create(2020, 11, 17, tz="US/Mountain"),
# pendulum.Pendulum (the DateTime class), pendulum.strptime.
def create(year=None, month=None, day=None, hour=0, minute=0, second=0, microsecond=0, tz=UTC):
    base = now(tz)
    return datetime(base.year if year is None else year, base.month if month is None else month,
                    base.day if day is None else day, hour, minute, second, microsecond, tz=tz)


def strptime(time, fmt):
    return instance(_dt.datetime.strptime(time, fmt))


Pendulum = DateTime


__all__ = [
    "MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY", "SUNDAY", "UTC",
    "Date", "DateTime", "Duration", "FixedTimezone", "Interval", "ParserError", "Period", "Time",
    "Timezone", "WeekDay", "create", "date", "datetime", "duration", "fixed_timezone", "from_format",
    "from_timestamp", "instance", "interval", "local", "local_timezone", "naive", "now", "parse",
    "period", "set_local_timezone", "time", "timezone", "today", "tomorrow", "yesterday",
]
