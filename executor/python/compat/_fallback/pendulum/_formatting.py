"""lithoflow's fallback for pendulum's formatter and ISO 8601 parser (``DateTime.format``,
``pendulum.from_format``, ``pendulum.parse``), English only: installing the real pendulum
replaces it."""

import datetime as _dt
import re

from pendulum.parsing.exceptions import ParserError

MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September",
          "October", "November", "December"]
DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]

_TOKENS = re.compile(r"\[([^\]]*)\]|LTS|LT|LLLL|LLL|LL|L|YYYY|YY|Y|Qo|Q|MMMM|MMM|MM|Mo|M|DDDD|DDDo|DDD"
                     r"|DD|Do|D|dddd|ddd|dd|do|d|E|wo|HH|H|hh|h|mm|m|ss|s|S{1,9}|A|X|x|ZZ|Z|zz|z")
_LOCALIZED = {"LT": "h:mm A", "LTS": "h:mm:ss A", "L": "MM/DD/YYYY", "LL": "MMMM D, YYYY",
              "LLL": "MMMM D, YYYY h:mm A", "LLLL": "dddd, MMMM D, YYYY h:mm A"}


def ordinal(n):
    if 10 <= n % 100 <= 20:
        return "%dth" % n
    return "%d%s" % (n, {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th"))


def _offset(d, sep):
    off = d.utcoffset() if isinstance(d, _dt.datetime) else None
    if off is None:
        return ""
    total = int(off.total_seconds())
    sign = "-" if total < 0 else "+"
    minutes = abs(total) // 60
    return "%s%02d%s%02d" % (sign, minutes // 60, sep, minutes % 60)


def _zone(d):
    tz = getattr(d, "tzinfo", None)
    if tz is None:
        return ""
    return getattr(tz, "name", None) or getattr(tz, "key", None) or d.tzname() or ""


def _token(d, tok):
    hour = getattr(d, "hour", 0)
    if tok in ("YYYY", "Y"):
        return "%d" % d.year if tok == "Y" else "%04d" % d.year
    if tok == "YY":
        return "%02d" % (d.year % 100)
    if tok in ("Q", "Qo"):
        q = (d.month - 1) // 3 + 1
        return ordinal(q) if tok == "Qo" else str(q)
    if tok == "MMMM":
        return MONTHS[d.month - 1]
    if tok == "MMM":
        return MONTHS[d.month - 1][:3]
    if tok == "MM":
        return "%02d" % d.month
    if tok == "Mo":
        return ordinal(d.month)
    if tok == "M":
        return str(d.month)
    if tok in ("DDDD", "DDD", "DDDo"):
        doy = d.timetuple().tm_yday
        return {"DDDD": "%03d" % doy, "DDD": str(doy), "DDDo": ordinal(doy)}[tok]
    if tok == "DD":
        return "%02d" % d.day
    if tok == "Do":
        return ordinal(d.day)
    if tok == "D":
        return str(d.day)
    if tok == "dddd":
        return DAYS[d.weekday()]
    if tok == "ddd":
        return DAYS[d.weekday()][:3]
    if tok == "dd":
        return DAYS[d.weekday()][:2]
    if tok in ("d", "do"):
        n = (d.weekday() + 1) % 7
        return ordinal(n) if tok == "do" else str(n)
    if tok == "E":
        return str(d.isoweekday())
    if tok == "wo":
        return ordinal(d.isocalendar()[1])
    if tok in ("HH", "H"):
        return "%02d" % hour if tok == "HH" else str(hour)
    if tok in ("hh", "h"):
        h12 = hour % 12 or 12
        return "%02d" % h12 if tok == "hh" else str(h12)
    if tok in ("mm", "m"):
        return "%02d" % d.minute if tok == "mm" else str(d.minute)
    if tok in ("ss", "s"):
        return "%02d" % d.second if tok == "ss" else str(d.second)
    if tok.startswith("S"):
        return ("%06d" % d.microsecond + "000")[:len(tok)]
    if tok == "A":
        return "AM" if hour < 12 else "PM"
    if tok == "X":
        return str(int(d.timestamp()))
    if tok == "x":
        return str(int(round(d.timestamp() * 1000)))
    if tok == "ZZ":
        return _offset(d, "")
    if tok == "Z":
        return _offset(d, ":")
    if tok in ("z", "zz"):
        return _zone(d) if tok == "z" else (d.tzname() or "") if isinstance(d, _dt.datetime) else ""
    return tok


def _check_locale(locale):
    if locale not in (None, "en", "en_us", "en-us", "en_US"):
        raise ValueError("locale %r: lithoflow's pendulum fallback formats in English only; install "
                         "pendulum for other locales" % (locale,))


def format(d, fmt, locale=None):
    """pendulum's ``format`` (its Moment.js-style tokens; ``[...]`` is literal text)."""
    _check_locale(locale)
    fmt = _TOKENS.sub(lambda m: _LOCALIZED.get(m.group(0), m.group(0)), fmt)

    def sub(m):
        if m.group(1) is not None:
            return m.group(1)
        return _token(d, m.group(0))

    return _TOKENS.sub(sub, fmt)


# --- from_format --------------------------------------------------------------------------------

_MONTH_RE = "|".join(MONTHS + [m[:3] for m in MONTHS])
_DAY_RE = "|".join(DAYS + [d[:3] for d in DAYS] + [d[:2] for d in DAYS])
_PARSE_TOKENS = re.compile(r"\[([^\]]*)\]|YYYY|YY|Y|Q|MMMM|MMM|MM|M|DDDD|DDD|DD|Do|D|dddd|ddd|dd|d|E"
                           r"|HH|H|hh|h|mm|m|ss|s|S{1,9}|A|a|X|x|ZZ|Z|z")
_PATTERNS = {
    "YYYY": r"(?P<YYYY>\d{4})", "YY": r"(?P<YY>\d{2})", "Y": r"(?P<Y>[+-]?\d+)",
    "Q": r"(?P<Q>[1-4])", "MMMM": r"(?P<MMMM>%s)" % _MONTH_RE, "MMM": r"(?P<MMM>%s)" % _MONTH_RE,
    "MM": r"(?P<MM>\d{2})", "M": r"(?P<M>\d{1,2})", "DDDD": r"(?P<DDDD>\d{3})",
    "DDD": r"(?P<DDD>\d{1,3})", "DD": r"(?P<DD>\d{2})", "Do": r"(?P<Do>\d{1,2})(?:st|nd|rd|th)",
    "D": r"(?P<D>\d{1,2})", "dddd": r"(?:%s)" % _DAY_RE, "ddd": r"(?:%s)" % _DAY_RE,
    "dd": r"(?:%s)" % _DAY_RE, "d": r"[0-6]", "E": r"[1-7]", "HH": r"(?P<HH>\d{2})",
    "H": r"(?P<H>\d{1,2})", "hh": r"(?P<hh>\d{2})", "h": r"(?P<h>\d{1,2})", "mm": r"(?P<mm>\d{2})",
    "m": r"(?P<m>\d{1,2})", "ss": r"(?P<ss>\d{2})", "s": r"(?P<s>\d{1,2})",
    "A": r"(?P<A>AM|PM|am|pm)", "a": r"(?P<a>am|pm|AM|PM)", "X": r"(?P<X>-?\d+(?:\.\d+)?)",
    "x": r"(?P<x>-?\d+)", "ZZ": r"(?P<ZZ>Z|[+-]\d{2}:?\d{2})", "Z": r"(?P<Z>Z|[+-]\d{2}:?\d{2})",
    "z": r"(?P<z>[A-Za-z_]+(?:/[A-Za-z0-9_+-]+)*)",
}


def _month(name):
    name = name.lower()
    for i, m in enumerate(MONTHS):
        if m.lower() == name or m[:3].lower() == name:
            return i + 1
    raise ParserError("unknown month %r" % name)


def parse_format(text, fmt, locale=None):
    """The fields of ``text`` read with ``fmt`` (a dict), or ``ParserError``."""
    _check_locale(locale)
    pieces = []
    pos = 0
    for m in _PARSE_TOKENS.finditer(fmt):
        pieces.append(re.escape(fmt[pos:m.start()]))
        if m.group(1) is not None:
            pieces.append(re.escape(m.group(1)))
        else:
            tok = m.group(0)
            if tok.startswith("S"):
                pieces.append(r"(?P<S>\d{%d})" % len(tok))
            else:
                pieces.append(_PATTERNS[tok])
        pos = m.end()
    pieces.append(re.escape(fmt[pos:]))
    try:
        rx = re.compile("^" + "".join(pieces) + "$", re.IGNORECASE)
    except re.error as e:  # a token used twice
        raise ValueError("format %r: %s" % (fmt, e)) from e
    found = rx.match(str(text))
    if not found:
        raise ValueError("String does not match format %s" % fmt)
    g = {k: v for k, v in found.groupdict().items() if v is not None}
    out = {}
    if "X" in g or "x" in g:
        out["timestamp"] = float(g["X"]) if "X" in g else int(g["x"]) / 1000.0
        return out
    if "YYYY" in g or "Y" in g:
        out["year"] = int(g.get("YYYY") or g["Y"])
    elif "YY" in g:
        yy = int(g["YY"])
        out["year"] = 1900 + yy if yy > 68 else 2000 + yy
    for key in ("MMMM", "MMM"):
        if key in g:
            out["month"] = _month(g[key])
    for key in ("MM", "M"):
        if key in g:
            out["month"] = int(g[key])
    if "Q" in g and "month" not in out:
        out["month"] = 3 * (int(g["Q"]) - 1) + 1
    for key in ("DD", "Do", "D"):
        if key in g:
            out["day"] = int(g[key])
    for key in ("DDDD", "DDD"):
        if key in g:
            out["day_of_year"] = int(g[key])
    hour = None
    for key in ("HH", "H", "hh", "h"):
        if key in g:
            hour = int(g[key])
    meridiem = (g.get("A") or g.get("a") or "").lower()
    if hour is not None:
        if meridiem == "pm" and hour < 12:
            hour += 12
        elif meridiem == "am" and hour == 12:
            hour = 0
        out["hour"] = hour
    for key, name in (("mm", "minute"), ("m", "minute"), ("ss", "second"), ("s", "second")):
        if key in g:
            out[name] = int(g[key])
    if "S" in g:
        out["microsecond"] = int((g["S"] + "000000")[:6])
    for key in ("ZZ", "Z"):
        if key in g:
            out["offset"] = _offset_seconds(g[key])
    if "z" in g:
        out["zone"] = g["z"]
    return out


def _offset_seconds(text):
    if text.upper() == "Z":
        return 0
    sign = -1 if text[0] == "-" else 1
    digits = text[1:].replace(":", "")
    return sign * (int(digits[:2]) * 3600 + int(digits[2:4] or 0) * 60)


# --- ISO 8601 ----------------------------------------------------------------------------------

_ISO_DATE = re.compile(r"^(?P<year>\d{4})(?:(?P<dash>-?)(?:(?P<month>\d{2})(?:(?P=dash)(?P<day>\d{2}))?"
                       r"|W(?P<week>\d{2})(?:(?P=dash)(?P<wday>[1-7]))?|(?P<yday>\d{3})))?$")
_ISO_TIME = re.compile(r"^(?P<hour>\d{2})(?::?(?P<minute>\d{2})(?::?(?P<second>\d{2})"
                       r"(?:[.,](?P<fraction>\d+))?)?)?(?P<tz>Z|[+-]\d{2}(?::?\d{2})?)?$")
_ISO_DURATION = re.compile(r"^P(?:(?P<years>\d+(?:[.,]\d+)?)Y)?(?:(?P<months>\d+(?:[.,]\d+)?)M)?"
                           r"(?:(?P<weeks>\d+(?:[.,]\d+)?)W)?(?:(?P<days>\d+(?:[.,]\d+)?)D)?"
                           r"(?:T(?:(?P<hours>\d+(?:[.,]\d+)?)H)?(?:(?P<minutes>\d+(?:[.,]\d+)?)M)?"
                           r"(?:(?P<seconds>\d+(?:[.,]\d+)?)S)?)?$")


def parse_iso_date(text):
    m = _ISO_DATE.match(text)
    if not m:
        return None
    year = int(m.group("year"))
    if m.group("week"):
        return _dt.date.fromisocalendar(year, int(m.group("week")), int(m.group("wday") or 1))
    if m.group("yday"):
        return _dt.date(year, 1, 1) + _dt.timedelta(days=int(m.group("yday")) - 1)
    if m.group("month") and not m.group("day") and not m.group("dash"):
        return None  # "202401" is not ISO 8601
    return _dt.date(year, int(m.group("month") or 1), int(m.group("day") or 1))


def parse_iso_time(text):
    """(time, offset seconds or None) or None."""
    m = _ISO_TIME.match(text)
    if not m:
        return None
    frac = m.group("fraction") or ""
    micro = int((frac + "000000")[:6]) if frac else 0
    hour = int(m.group("hour"))
    extra = _dt.timedelta(0)
    if hour == 24:
        hour, extra = 0, _dt.timedelta(days=1)
    t = _dt.time(hour, int(m.group("minute") or 0), int(m.group("second") or 0), micro)
    tz = m.group("tz")
    return t, (None if tz is None else _offset_seconds(tz)), extra


def parse_iso_duration(text):
    m = _ISO_DURATION.match(text)
    if not m or text in ("P", "PT") or text.endswith("T"):
        return None
    return {k: float(v.replace(",", ".")) for k, v in m.groupdict().items() if v is not None}


def parse_iso(text):
    """("datetime", date, time|None, offset|None, extra) | ("date", date) | ("time", time, offset)
    | ("duration", fields) | ("interval", a, b), or ParserError."""
    s = text.strip()
    if "/" in s:
        a, b = s.split("/", 1)
        return ("interval", a, b)
    if s.startswith("P"):
        fields = parse_iso_duration(s)
        if fields is None:
            raise ParserError("Unable to parse string [%s]" % text)
        return ("duration", fields)
    for sep in ("T", "t", " "):
        if sep in s:
            date_part, time_part = s.split(sep, 1)
            break
    else:
        date_part, time_part = s, None
    d = parse_iso_date(date_part)
    if d is None:
        if time_part is None:
            t = parse_iso_time(s)
            if t is not None and (":" in s or len(s) in (2, 4, 6)):
                return ("time", t[0], t[1])
        raise ParserError("Unable to parse string [%s]" % text)
    if time_part is None:
        return ("date", d)
    t = parse_iso_time(time_part.strip())
    if t is None:
        raise ParserError("Unable to parse string [%s]" % text)
    return ("datetime", d, t[0], t[1], t[2])
