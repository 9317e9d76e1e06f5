"""lithoflow's fallback for ``dateutil.relativedelta``, with the real one's semantics: relative
fields (``years``, ``months``, ``weeks``, ``days``, ``hours``, ``minutes``, ``seconds``,
``microseconds``) are added, absolute fields (``year``, ``month``, ``day``, ``hour``, ``minute``,
``second``, ``microsecond``) replace, the day is clipped to the month's length, ``leapdays`` are
added in a leap year after February, ``weekday=MO(+1)`` moves to the n-th such weekday, and
``relativedelta(dt1, dt2)`` is the difference. Installing the real python-dateutil replaces it."""

import calendar
import datetime

from dateutil._common import weekday

MO, TU, WE, TH, FR, SA, SU = weekdays = tuple(weekday(x) for x in range(7))

__all__ = ["relativedelta", "MO", "TU", "WE", "TH", "FR", "SA", "SU"]

_RELATIVE = ("years", "months", "days", "leapdays", "hours", "minutes", "seconds", "microseconds")
_ABSOLUTE = ("year", "month", "day", "weekday", "hour", "minute", "second", "microsecond")
_YEARDAY_ENDS = [31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334, 366]


def _sign(x):
    return -1 if x < 0 else 1


class relativedelta(object):
    """dateutil's ``relativedelta``."""

    def __init__(self, dt1=None, dt2=None, years=0, months=0, days=0, leapdays=0, weeks=0, hours=0,
                 minutes=0, seconds=0, microseconds=0, year=None, month=None, day=None, weekday=None,
                 yearday=None, nlyearday=None, hour=None, minute=None, second=None, microsecond=None):
        if dt1 and dt2:
            self._init_diff(dt1, dt2)
            return
        if any(x is not None and x != int(x) for x in (years, months)):
            raise ValueError("Non-integer years and months are ambiguous and not currently supported.")
        self.years = int(years)
        self.months = int(months)
        self.days = days + weeks * 7
        self.leapdays = leapdays
        self.hours = hours
        self.minutes = minutes
        self.seconds = seconds
        self.microseconds = microseconds
        self.year, self.month, self.day = year, month, day
        self.hour, self.minute, self.second, self.microsecond = hour, minute, second, microsecond
        self.weekday = weekdays[weekday] if isinstance(weekday, int) else weekday
        yday = nlyearday or yearday or 0
        if yearday and not nlyearday and yearday > 59:
            self.leapdays = -1
        if yday:
            for idx, end in enumerate(_YEARDAY_ENDS):
                if yday <= end:
                    self.month = idx + 1
                    self.day = yday if idx == 0 else yday - _YEARDAY_ENDS[idx - 1]
                    break
            else:
                raise ValueError("invalid year day (%d)" % yday)
        self._fix()

    def _init_diff(self, dt1, dt2):
        if not (isinstance(dt1, datetime.date) and isinstance(dt2, datetime.date)):
            raise TypeError("relativedelta only diffs datetime/date")
        if isinstance(dt1, datetime.datetime) != isinstance(dt2, datetime.datetime):
            if not isinstance(dt1, datetime.datetime):
                dt1 = datetime.datetime.fromordinal(dt1.toordinal())
            else:
                dt2 = datetime.datetime.fromordinal(dt2.toordinal())
        for name in _RELATIVE:
            setattr(self, name, 0)
        for name in _ABSOLUTE:
            setattr(self, name, None)
        self._has_time = 0
        # Whole months first (dt2 + months never passes dt1), then the rest as seconds.
        months = (dt1.year - dt2.year) * 12 + (dt1.month - dt2.month)
        self._set_months(months)
        moved = self.__radd__(dt2)
        step = 1 if dt1 < dt2 else -1
        while (dt1 > moved) if step == 1 else (dt1 < moved):
            months += step
            self._set_months(months)
            moved = self.__radd__(dt2)
        delta = dt1 - moved
        self.seconds = delta.seconds + delta.days * 86400
        self.microseconds = delta.microseconds
        self._fix()

    def _set_months(self, months):
        self.months = months
        if abs(self.months) > 11:
            s = _sign(self.months)
            div, mod = divmod(self.months * s, 12)
            self.months = mod * s
            self.years = div * s
        else:
            self.years = 0

    def _fix(self):
        def carry(small, big, limit):
            value = getattr(self, small)
            if abs(value) > limit:
                s = _sign(value)
                div, mod = divmod(value * s, limit + 1)
                setattr(self, small, mod * s)
                setattr(self, big, getattr(self, big) + div * s)

        carry("microseconds", "seconds", 999999)
        carry("seconds", "minutes", 59)
        carry("minutes", "hours", 59)
        carry("hours", "days", 23)
        carry("months", "years", 11)
        self._has_time = bool(self.hours or self.minutes or self.seconds or self.microseconds
                              or self.hour is not None or self.minute is not None
                              or self.second is not None or self.microsecond is not None)

    @property
    def weeks(self):
        return int(self.days / 7)

    @weeks.setter
    def weeks(self, value):
        self.days = self.days - (self.weeks * 7) + value * 7

    def normalized(self):
        """The same delta with fractional days/hours/minutes/seconds carried down to whole units."""
        days = int(self.days)
        hours_f = round(self.hours + 24 * (self.days - days), 11)
        hours = int(hours_f)
        minutes_f = round(self.minutes + 60 * (hours_f - hours), 10)
        minutes = int(minutes_f)
        seconds_f = round(self.seconds + 60 * (minutes_f - minutes), 8)
        seconds = int(seconds_f)
        microseconds = round(self.microseconds + 1e6 * (seconds_f - seconds))
        return self.__class__(years=self.years, months=self.months, days=days, hours=hours,
                              minutes=minutes, seconds=seconds, microseconds=microseconds,
                              leapdays=self.leapdays, year=self.year, month=self.month, day=self.day,
                              weekday=self.weekday, hour=self.hour, minute=self.minute,
                              second=self.second, microsecond=self.microsecond)

    def _fields(self, **over):
        f = {name: getattr(self, name) for name in _RELATIVE + _ABSOLUTE}
        f.update(over)
        return f

    def __add__(self, other):
        if isinstance(other, relativedelta):
            f = {name: getattr(self, name) + getattr(other, name) for name in _RELATIVE}
            for name in _ABSOLUTE:
                mine, theirs = getattr(self, name), getattr(other, name)
                f[name] = theirs if theirs is not None else mine
            return self.__class__(**f)
        if isinstance(other, datetime.timedelta):
            return self.__class__(**self._fields(days=self.days + other.days,
                                                 seconds=self.seconds + other.seconds,
                                                 microseconds=self.microseconds + other.microseconds))
        if not isinstance(other, datetime.date):
            return NotImplemented
        if self._has_time and not isinstance(other, datetime.datetime):
            other = datetime.datetime.fromordinal(other.toordinal())
        year = (self.year or other.year) + self.years
        month = self.month or other.month
        if self.months:
            month += self.months
            if month > 12:
                year += 1
                month -= 12
            elif month < 1:
                year -= 1
                month += 12
        day = min(calendar.monthrange(year, month)[1], self.day or other.day)
        repl = {"year": year, "month": month, "day": day}
        for name in ("hour", "minute", "second", "microsecond"):
            value = getattr(self, name)
            if value is not None:
                repl[name] = value
        days = self.days
        if self.leapdays and month > 2 and calendar.isleap(year):
            days += self.leapdays
        ret = other.replace(**repl) + datetime.timedelta(days=days, hours=self.hours, minutes=self.minutes,
                                                         seconds=self.seconds,
                                                         microseconds=self.microseconds)
        if self.weekday:
            wday, nth = self.weekday.weekday, self.weekday.n or 1
            jump = (abs(nth) - 1) * 7
            if nth > 0:
                jump += (7 - ret.weekday() + wday) % 7
            else:
                jump += (ret.weekday() - wday) % 7
                jump = -jump
            ret += datetime.timedelta(days=jump)
        return ret

    def __radd__(self, other):
        return self.__add__(other)

    def __rsub__(self, other):
        return self.__neg__().__radd__(other)

    def __sub__(self, other):
        if not isinstance(other, relativedelta):
            return NotImplemented
        f = {name: getattr(self, name) - getattr(other, name) for name in _RELATIVE}
        for name in _ABSOLUTE:
            mine, theirs = getattr(self, name), getattr(other, name)
            f[name] = mine if mine is not None else theirs
        return self.__class__(**f)

    def __abs__(self):
        return self.__class__(**self._fields(**{n: abs(getattr(self, n)) for n in _RELATIVE}))

    def __neg__(self):
        return self.__class__(**self._fields(**{n: -getattr(self, n) for n in _RELATIVE}))

    def __bool__(self):
        return any(getattr(self, n) for n in _RELATIVE) or \
            any(getattr(self, n) is not None for n in _ABSOLUTE)

    def __mul__(self, other):
        try:
            f = float(other)
        except TypeError:
            return NotImplemented
        return self.__class__(**self._fields(**{n: int(getattr(self, n) * f) for n in _RELATIVE}))

    __rmul__ = __mul__

    def __truediv__(self, other):
        try:
            reciprocal = 1 / float(other)
        except TypeError:
            return NotImplemented
        return self.__mul__(reciprocal)

    def __eq__(self, other):
        if not isinstance(other, relativedelta):
            return NotImplemented
        if self.weekday or other.weekday:
            if not self.weekday or not other.weekday:
                return False
            if self.weekday.weekday != other.weekday.weekday:
                return False
            n1, n2 = self.weekday.n, other.weekday.n
            if n1 != n2 and not ((not n1 or n1 == 1) and (not n2 or n2 == 1)):
                return False
        names = [n for n in _RELATIVE + _ABSOLUTE if n != "weekday"]
        return all(getattr(self, n) == getattr(other, n) for n in names)

    def __ne__(self, other):
        eq = self.__eq__(other)
        return eq if eq is NotImplemented else not eq

    def __hash__(self):
        return hash(tuple(getattr(self, n) for n in _RELATIVE + _ABSOLUTE))

    def __repr__(self):
        parts = []
        for name in ("years", "months", "days", "leapdays", "hours", "minutes", "seconds", "microseconds"):
            value = getattr(self, name)
            if value:
                parts.append("{attr}={value:+g}".format(attr=name, value=value))
        for name in _ABSOLUTE:
            value = getattr(self, name)
            if value is not None:
                parts.append("{attr}={value}".format(attr=name, value=repr(value)))
        return "{classname}({attrs})".format(classname=self.__class__.__name__, attrs=", ".join(parts))
