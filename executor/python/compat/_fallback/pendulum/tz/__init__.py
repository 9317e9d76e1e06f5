"""lithoflow's fallback for ``pendulum.tz`` (see ``pendulum/__init__.py``): installing the real
pendulum replaces it."""

import os as _os

from pendulum.tz.exceptions import InvalidTimezone
from pendulum.tz.timezone import UTC, FixedTimezone, Timezone

_LOCAL = None


def timezone(name):
    """A zone by IANA name (``"Europe/Amsterdam"``), or a fixed offset in seconds (an int)."""
    if isinstance(name, (Timezone, FixedTimezone)):
        return name
    if isinstance(name, int) and not isinstance(name, bool):
        return fixed_timezone(name)
    if name in ("UTC", "utc"):
        return UTC
    if not isinstance(name, str):
        import datetime as _dt

        if isinstance(name, _dt.tzinfo):
            return name
        raise InvalidTimezone(repr(name))
    return Timezone(name)


def fixed_timezone(offset):
    """A fixed offset of ``offset`` seconds (pendulum names it ``+HH:MM``)."""
    if offset == 0:
        return UTC
    return FixedTimezone(offset)


def _system_zone_name():
    env = _os.environ.get("TZ")
    if env:
        return env.lstrip(":")
    try:
        target = _os.path.realpath("/etc/localtime")
        if "zoneinfo/" in target:
            return target.split("zoneinfo/", 1)[1]
    except OSError:
        pass
    try:
        with open("/etc/timezone") as f:
            text = f.read().strip()
            if text:
                return text
    except OSError:
        pass
    return "UTC"


def local_timezone():
    """The machine's zone: ``TZ``, else ``/etc/localtime``'s name, else UTC (pendulum's order)."""
    global _LOCAL
    if _LOCAL is None:
        name = _system_zone_name()
        try:
            _LOCAL = Timezone(name)
        except InvalidTimezone:
            _LOCAL = UTC
    return _LOCAL


def set_local_timezone(tz=None):
    """pendulum's testing helper: the zone ``local_timezone()`` returns (None: the machine's)."""
    global _LOCAL
    _LOCAL = None if tz is None else timezone(tz)


def test_local_timezone(tz):
    import contextlib

    @contextlib.contextmanager
    def _ctx():
        global _LOCAL
        old = _LOCAL
        _LOCAL = timezone(tz)
        try:
            yield
        finally:
            _LOCAL = old

    return _ctx()


def timezones():
    import zoneinfo

    return tuple(sorted(zoneinfo.available_timezones()))


__all__ = ["UTC", "FixedTimezone", "InvalidTimezone", "Timezone", "fixed_timezone",
           "local_timezone", "set_local_timezone", "timezone", "timezones"]
