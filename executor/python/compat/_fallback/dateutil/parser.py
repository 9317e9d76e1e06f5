"""lithoflow's fallback for ``dateutil.parser``: ``isoparse`` (ISO 8601, as dateutil's strict
``isoparser``) and ``parse`` (ISO 8601 and the common human formats: ``01/31/2024``, ``31.01.2024``
with ``dayfirst``, ``Jan 31 2024 10:30 PM``, ``Wed, 31 Jan 2024 10:05:03 +0000``, ``20240131``,
``10:30``..., missing fields taken from ``default``, dateutil's rules for ambiguous day/month/year,
``tzinfos``, ``ignoretz``, ``fuzzy``). Installing the real python-dateutil replaces it."""

import calendar
import datetime
import re
import time
import warnings

from dateutil import tz as _tz

__all__ = ["ParserError", "UnknownTimezoneWarning", "isoparse", "isoparser", "parse", "parser"]


class ParserError(ValueError):
    """dateutil's parse error (a ``ValueError``)."""

    def __str__(self):
        try:
            return self.args[0] % self.args[1:]
        except (TypeError, IndexError):
            return super().__str__()


class UnknownTimezoneWarning(RuntimeWarning):
    pass


# --- ISO 8601 -----------------------------------------------------------------------------------

_ISO_DATE = re.compile(r"(?P<y>\d{4})(?:(?P<d1>-)?(?:W(?P<w>\d{2})(?:(?P=d1)?(?P<wd>\d))?"
                       r"|(?P<yd>\d{3})(?![\d-])"
                       r"|(?P<m>\d{2})(?:(?P=d1)(?P<d>\d{2})|(?(d1)|(?P<d2>\d{2})))?))?")
_ISO_TIME = re.compile(r"(?P<h>\d{2})(?:(?P<c>:)?(?P<mi>\d{2})(?:(?(c):|)(?P<s>\d{2})"
                       r"(?:[.,](?P<f>\d+))?)?)?(?P<tz>[zZ]|[+-]\d{2}(?::?\d{2})?)?$")


class isoparser(object):
    """dateutil's strict ISO 8601 parser (``sep``: the one character between date and time)."""

    def __init__(self, sep=None):
        if sep is not None and (len(sep) != 1 or sep.isdigit()):
            raise ValueError("Separator must be a single, non-numeric ASCII character")
        self._sep = sep

    def isoparse(self, dt_str):
        if isinstance(dt_str, bytes):
            dt_str = dt_str.decode("ascii")
        d, pos = self._date(dt_str)
        if pos == len(dt_str):
            return datetime.datetime(d.year, d.month, d.day)
        sep = dt_str[pos]
        if (self._sep is None and sep.isdigit()) or (self._sep is not None and sep != self._sep):
            raise ValueError("String contains unknown ISO components")
        t, extra = self._time(dt_str[pos + 1:])
        return datetime.datetime.combine(d, t) + extra

    def parse_isodate(self, datestr):
        d, pos = self._date(datestr)
        if pos != len(datestr):
            raise ValueError("String contains unknown ISO components: %r" % datestr)
        return d

    def parse_isotime(self, timestr):
        t, extra = self._time(timestr)
        return t

    def parse_tzstr(self, tzstr, zero_as_utc=True):
        if tzstr in ("Z", "z"):
            return _tz.UTC
        m = re.match(r"^([+-])(\d{2})(?::?(\d{2}))?$", tzstr)
        if not m:
            raise ValueError("Time zone offset must be 1, 3, 5 or 6 characters")
        hours, minutes = int(m.group(2)), int(m.group(3) or 0)
        if hours > 23 or minutes > 59:
            raise ValueError("Invalid hours or minutes in time zone offset")
        seconds = (-1 if m.group(1) == "-" else 1) * (hours * 3600 + minutes * 60)
        if seconds == 0 and zero_as_utc:
            return _tz.UTC
        return _tz.tzoffset(None, seconds)

    @staticmethod
    def _date(s):
        m = _ISO_DATE.match(s)
        if not m:
            raise ValueError("ISO string too short")
        g = m.groupdict()
        year = int(g["y"])
        if g["w"]:
            d = datetime.date.fromisocalendar(year, int(g["w"]), int(g["wd"] or 1))
        elif g["yd"]:
            d = datetime.date(year, 1, 1) + datetime.timedelta(days=int(g["yd"]) - 1)
            if d.year != year:
                raise ValueError("Invalid ordinal day %s for year %d" % (g["yd"], year))
        elif g["m"]:
            if not g["d1"] and not g["d2"]:
                raise ValueError("Invalid ISO format: YYYYMM")
            d = datetime.date(year, int(g["m"]), int(g["d"] or g["d2"] or 1))
        else:
            d = datetime.date(year, 1, 1)
        return d, m.end()

    def _time(self, s):
        m = _ISO_TIME.match(s)
        if not m:
            raise ValueError("Unused components in ISO string")
        g = m.groupdict()
        hour, minute, second = int(g["h"]), int(g["mi"] or 0), int(g["s"] or 0)
        micro = int((g["f"] or "")[:6].ljust(6, "0")) if g["f"] else 0
        extra = datetime.timedelta(0)
        if hour == 24:
            if minute or second or micro:
                raise ValueError("Hour may only be 24 at 24:00:00.000")
            hour, extra = 0, datetime.timedelta(days=1)
        tzinfo = self.parse_tzstr(g["tz"]) if g["tz"] else None
        return datetime.time(hour, minute, second, micro, tzinfo=tzinfo), extra


DEFAULT_ISOPARSER = isoparser()
isoparse = DEFAULT_ISOPARSER.isoparse


# --- parse --------------------------------------------------------------------------------------

_JUMP = {".", ",", ";", "-", "/", "'", "at", "on", "and", "ad", "m", "t", "of", "st", "nd", "rd", "th"}
_MONTHS = [("jan", "january"), ("feb", "february"), ("mar", "march"), ("apr", "april"), ("may", "may"),
           ("jun", "june"), ("jul", "july"), ("aug", "august"), ("sep", "sept", "september"),
           ("oct", "october"), ("nov", "november"), ("dec", "december")]
_WEEKDAYS = [("mon", "monday"), ("tue", "tuesday"), ("wed", "wednesday"), ("thu", "thursday"),
             ("fri", "friday"), ("sat", "saturday"), ("sun", "sunday")]
_MONTH_OF = {name: i + 1 for i, names in enumerate(_MONTHS) for name in names}
_WEEKDAY_OF = {name: i for i, names in enumerate(_WEEKDAYS) for name in names}
_AMPM = {"am": 0, "a": 0, "pm": 1, "p": 1}
_UTC_NAMES = {"UTC", "GMT", "Z", "z", "UT"}
_TOKEN = re.compile(r"\d+|[^\W\d_]+|\s+|.", re.UNICODE)
_FULL_ISO = re.compile(r"^\s*\d{4}-\d{2}-\d{2}(?:[T ]\d{2}(?::\d{2}(?::\d{2}(?:[.,]\d+)?)?)?"
                       r"(?:\s?(?:[zZ]|[+-]\d{2}(?::?\d{2})?))?)?\s*$")


class _Result(object):
    def __init__(self):
        self.ymd = []  # [value, digits (0 for a month name), is_month_name]
        self.hour = self.minute = self.second = self.microsecond = None
        self.ampm = None
        self.weekday = None
        self.tzname = None
        self.tzoffset = None
        self.skipped = []


def _fail(timestr):
    raise ParserError("Unknown string format: %s", timestr)


def _convert_year(year, digits):
    if digits > 2 or year >= 100:
        return year
    now = datetime.datetime.now().year
    year += now - now % 100
    if year >= now + 50:
        year -= 100
    elif year < now - 50:
        year += 100
    return year


def _resolve_ymd(ymd, dayfirst, yearfirst, timestr):
    """dateutil's rules for which number is the year, the month and the day."""
    if len(ymd) > 3:
        raise ParserError("More than three YMD values in %s", timestr)
    vals = [v for v, _, _ in ymd]
    mi = next((i for i, e in enumerate(ymd) if e[2]), None)
    yi = next((i for i, e in enumerate(ymd) if e[1] > 2), None)
    year = month = day = None
    n = len(ymd)
    if n == 1:
        if mi is not None:
            month = vals[0]
        elif vals[0] > 31 or yi == 0:
            year = vals[0]
        else:
            day = vals[0]
    elif n == 2:
        if mi is not None:
            other = vals[1 - mi]
            month = vals[mi]
            if other > 31 or yi is not None:
                year = other
            else:
                day = other
        elif vals[0] > 31 or yi == 0:
            year, month = vals
        elif vals[1] > 31 or yi == 1:
            month, year = vals
        elif dayfirst and vals[1] <= 12:
            day, month = vals
        else:
            month, day = vals
    elif n == 3:
        if mi == 0:
            if vals[1] > 31 or yi == 1:
                month, year, day = vals
            else:
                month, day, year = vals
        elif mi == 1:
            if vals[0] > 31 or yi == 0 or (yearfirst and vals[2] <= 31):
                year, month, day = vals
            else:
                day, month, year = vals
        elif mi == 2:
            if vals[1] > 31 or yi == 1:
                day, year, month = vals
            else:
                year, day, month = vals
        elif vals[0] > 31 or yi == 0 or (yearfirst and vals[1] <= 12 and vals[2] <= 31):
            if vals[1] > 12 and vals[2] <= 12:
                year, day, month = vals
            else:
                year, month, day = vals
        elif vals[0] > 12 or (dayfirst and vals[1] <= 12):
            day, month, year = vals
        else:
            month, day, year = vals
    if year is not None:
        digits = next(e[1] for e in ymd if e[0] == year and not e[2])
        year = _convert_year(year, digits)
    return year, month, day


def _lex(timestr):
    return [t for t in _TOKEN.findall(timestr)]


def _parse_tokens(timestr, dayfirst, yearfirst, fuzzy):
    res = _Result()
    toks = _lex(timestr)
    n = len(toks)
    i = 0

    def peek(j):
        return toks[j] if j < n else None

    def skip(tok):
        if fuzzy:
            res.skipped.append(tok)
        else:
            _fail(timestr)

    while i < n:
        t = toks[i]
        low = t.lower()
        if t.isspace():
            i += 1
            continue
        if t.isdigit():
            # h:mm[:ss[.ffffff]]
            if peek(i + 1) == ":" and peek(i + 2) is not None and peek(i + 2).isdigit():
                res.hour, res.minute = int(t), int(toks[i + 2])
                i += 3
                if peek(i) == ":" and peek(i + 1) is not None and peek(i + 1).isdigit():
                    res.second = int(toks[i + 1])
                    i += 2
                    if peek(i) in (".", ",") and peek(i + 1) is not None and peek(i + 1).isdigit():
                        res.microsecond = int(toks[i + 1][:6].ljust(6, "0"))
                        i += 2
                continue
            # a date with separators: 31/01/2024, 2024.01.31, 31-Jan-2024, 01/31
            sep = peek(i + 1)
            if sep in ("-", "/", ".") and peek(i + 2) is not None and \
                    (peek(i + 2).isdigit() or peek(i + 2).lower() in _MONTH_OF):
                parts = [t]
                j = i + 1
                while peek(j) == sep and peek(j + 1) is not None and \
                        (peek(j + 1).isdigit() or peek(j + 1).lower() in _MONTH_OF) and len(parts) < 3:
                    parts.append(toks[j + 1])
                    j += 2
                for p in parts:
                    if p.isdigit():
                        res.ymd.append([int(p), len(p), False])
                    else:
                        res.ymd.append([_MONTH_OF[p.lower()], 0, True])
                i = j
                continue
            nxt = i + 1
            while nxt < n and toks[nxt].isspace():
                nxt += 1
            if peek(nxt) is not None and peek(nxt).lower() in _AMPM and len(t) <= 2 and res.hour is None:
                res.hour, res.minute = int(t), 0
                i = nxt
                continue
            L = len(t)
            if not res.ymd and L in (8, 12, 14):
                res.ymd = [[int(t[:4]), 4, False], [int(t[4:6]), 2, False], [int(t[6:8]), 2, False]]
                if L >= 12:
                    res.hour, res.minute = int(t[8:10]), int(t[10:12])
                if L == 14:
                    res.second = int(t[12:14])
                if peek(i + 1) in (".", ",") and L == 14 and peek(i + 2) is not None and peek(i + 2).isdigit():
                    res.microsecond = int(toks[i + 2][:6].ljust(6, "0"))
                    i += 2
                i += 1
                continue
            if L == 6 and not res.ymd:
                res.ymd = [[int(t[:2]), 2, False], [int(t[2:4]), 2, False], [int(t[4:]), 2, False]]
                i += 1
                continue
            if L in (4, 6) and res.hour is None and len(res.ymd) == 3:
                res.hour, res.minute = int(t[:2]), int(t[2:4])
                if L == 6:
                    res.second = int(t[4:])
                i += 1
                continue
            if L <= 4 and len(res.ymd) < 3:
                res.ymd.append([int(t), L, False])
                i += 1
                continue
            skip(t)
            i += 1
            continue
        if low in _MONTH_OF and len(t) >= 3:
            if any(e[2] for e in res.ymd):
                skip(t)
            else:
                res.ymd.append([_MONTH_OF[low], 0, True])
            i += 1
            continue
        if low in _WEEKDAY_OF:
            res.weekday = _WEEKDAY_OF[low]
            i += 1
            continue
        if low in _AMPM and res.hour is not None and res.ampm is None:
            if not 0 < res.hour <= 12:
                if fuzzy:
                    i += 1
                    continue
                raise ParserError("Invalid hour with AM/PM: %s", timestr)
            res.ampm = _AMPM[low]
            if res.ampm == 1 and res.hour < 12:
                res.hour += 12
            elif res.ampm == 0 and res.hour == 12:
                res.hour = 0
            i += 1
            continue
        if t in ("+", "-") and res.hour is not None and res.tzoffset is None and \
                peek(i + 1) is not None and peek(i + 1).isdigit():
            sign = 1 if t == "+" else -1
            if res.tzname in ("GMT", "UTC"):  # "GMT+3" means "my time + 3 is GMT", as dateutil reads it
                sign = -sign
                res.tzname = None
            digits = toks[i + 1]
            i += 2
            if len(digits) == 4:
                hours, minutes = int(digits[:2]), int(digits[2:])
            elif peek(i) == ":" and peek(i + 1) is not None and peek(i + 1).isdigit():
                hours, minutes = int(digits), int(toks[i + 1])
                i += 2
            elif len(digits) <= 2:
                hours, minutes = int(digits), 0
            else:
                _fail(timestr)
            res.tzoffset = sign * (hours * 3600 + minutes * 60)
            continue
        if t.isalpha() and res.hour is not None and res.tzname is None and res.tzoffset is None and \
                (t in _UTC_NAMES or (t.isupper() and 3 <= len(t) <= 5)):
            res.tzname = t
            if t in _UTC_NAMES:
                res.tzoffset = 0
            i += 1
            continue
        if low in _JUMP or t in ("(", ")"):
            i += 1
            continue
        if low == "z" and res.hour is not None:
            res.tzname, res.tzoffset = "Z", 0
            i += 1
            continue
        skip(t)
        i += 1
    if res.tzname in _UTC_NAMES:
        res.tzoffset = 0 if res.tzoffset is None else res.tzoffset
    return res


def _tzinfo_from(res, tzinfos, timestr):
    name, offset = res.tzname, res.tzoffset
    if tzinfos is not None and name is not None:
        found = tzinfos(name, offset) if callable(tzinfos) else tzinfos.get(name)
        if isinstance(found, datetime.tzinfo):
            return found
        if isinstance(found, str):
            return _tz.gettz(found)
        if isinstance(found, int):
            return _tz.tzoffset(name, found)
        if found is not None:
            raise TypeError("Offset must be tzinfo subclass, tz string, or int offset.")
    if offset == 0 and (name is None or name in _UTC_NAMES):
        return _tz.UTC
    if offset is not None:
        return _tz.tzoffset(name, offset)
    if name is not None:
        if name in time.tzname:
            return _tz.tzlocal()
        warnings.warn("tzname %s identified but not understood. Pass `tzinfos` argument in order to "
                      "correctly return a timezone-aware datetime." % name, UnknownTimezoneWarning)
    return None


def parse(timestr, parserinfo=None, default=None, ignoretz=False, tzinfos=None, dayfirst=None,
          yearfirst=None, fuzzy=False, fuzzy_with_tokens=False, **kwargs):
    """A datetime read from ``timestr`` (what ``dateutil.parser.parse`` reads)."""
    if parserinfo is not None:
        raise ParserError("parserinfo is not supported by lithoflow's dateutil fallback: install "
                          "python-dateutil")
    if not isinstance(timestr, str):
        if isinstance(timestr, (bytes, bytearray)):
            timestr = timestr.decode("ascii")
        else:
            raise TypeError("Parser must be a string or character stream, not %s" % type(timestr).__name__)
    if default is None:
        default = datetime.datetime.now().replace(hour=0, minute=0, second=0, microsecond=0)
    fuzzy = fuzzy or fuzzy_with_tokens
    if _FULL_ISO.match(timestr):
        try:
            r = isoparse(timestr.strip().replace(" +", "+").replace(" -", "-"))
        except ValueError:
            r = None
        if r is not None:
            if ignoretz:
                r = r.replace(tzinfo=None)
            elif tzinfos is not None and r.tzinfo is not None:
                pass
            return (r, ()) if fuzzy_with_tokens else r
    res = _parse_tokens(timestr, bool(dayfirst), bool(yearfirst), fuzzy)
    year, month, day = _resolve_ymd(res.ymd, bool(dayfirst), bool(yearfirst), timestr)
    if not res.ymd and res.hour is None and res.weekday is None and res.tzname is None \
            and res.tzoffset is None:
        raise ParserError("String does not contain a date: %s", timestr)
    repl = {}
    for name, value in (("year", year), ("month", month), ("day", day), ("hour", res.hour),
                        ("minute", res.minute), ("second", res.second),
                        ("microsecond", res.microsecond)):
        if value is not None:
            repl[name] = value
    if "day" not in repl:
        y = repl.get("year", default.year)
        m = repl.get("month", default.month)
        repl["day"] = min(default.day, calendar.monthrange(y, m)[1])
    try:
        ret = default.replace(**repl)
    except ValueError as e:
        raise ParserError(str(e) + ": %s", timestr) from e
    if res.weekday is not None and day is None:
        from dateutil.relativedelta import relativedelta

        ret = ret + relativedelta(weekday=res.weekday)
    if not ignoretz:
        tzinfo = _tzinfo_from(res, tzinfos, timestr)
        if tzinfo is not None:
            ret = ret.replace(tzinfo=tzinfo)
    if fuzzy_with_tokens:
        return ret, tuple(res.skipped)
    return ret


class parser(object):
    """dateutil's ``parser`` class (``parser().parse(text, ...)``)."""

    def __init__(self, info=None):
        self.info = info

    def parse(self, timestr, default=None, ignoretz=False, tzinfos=None, **kwargs):
        return parse(timestr, default=default, ignoretz=ignoretz, tzinfos=tzinfos, **kwargs)


class parserinfo(object):
    """Accepted so that ``parserinfo(dayfirst=True)`` constructs; ``parse`` refuses custom ones."""

    def __init__(self, dayfirst=False, yearfirst=False):
        self.dayfirst = dayfirst
        self.yearfirst = yearfirst
