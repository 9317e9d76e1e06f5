"""lithoflow's fallback for ``pendulum.tz.timezone`` (see ``pendulum/__init__.py``): installing
the real pendulum replaces it."""

import datetime as _dt

from zoneinfo import ZoneInfo as _ZoneInfo
from zoneinfo import ZoneInfoNotFoundError as _NotFound

from pendulum.tz.exceptions import InvalidTimezone


class PendulumTimezone:
    """What both of pendulum's zone classes have: ``name``, ``convert``, ``datetime``."""

    def convert(self, dt, raise_on_unknown_times=False):
        """An aware datetime moved to this zone; a naive one read in this zone."""
        from pendulum import DateTime

        if dt.tzinfo is None:
            return DateTime._of(dt.replace(tzinfo=self))
        return DateTime._of(dt.astimezone(self))

    def datetime(self, year, month, day, hour=0, minute=0, second=0, microsecond=0):
        from pendulum import DateTime

        return DateTime(year, month, day, hour, minute, second, microsecond, tzinfo=self, fold=1)


class Timezone(PendulumTimezone, _ZoneInfo):
    """pendulum's ``Timezone``: a ``zoneinfo.ZoneInfo`` (``.key``) that also has ``.name``."""

    def __new__(cls, key):
        try:
            return super().__new__(cls, key)
        except (_NotFound, ValueError) as e:
            raise InvalidTimezone(key) from e

    @property
    def name(self):
        return self.key

    def __repr__(self):
        return "Timezone('%s')" % self.key

    def __eq__(self, other):
        return isinstance(other, Timezone) and self.key == other.key

    def __hash__(self):
        return hash(self.key)


class FixedTimezone(PendulumTimezone, _dt.tzinfo):
    """A fixed offset from UTC, in seconds (pendulum's ``FixedTimezone``)."""

    def __init__(self, offset, name=None):
        sign = "-" if offset < 0 else "+"
        minutes = abs(offset) // 60
        self._offset = int(offset)
        self._delta = _dt.timedelta(seconds=offset)
        self._name = name if name is not None else "%s%02d:%02d" % (sign, minutes // 60, minutes % 60)

    @property
    def name(self):
        return self._name

    @property
    def offset(self):
        return self._offset

    def utcoffset(self, dt):
        return self._delta

    def dst(self, dt):
        return _dt.timedelta(0)

    def tzname(self, dt):
        return self._name

    def fromutc(self, dt):
        return (dt + self._delta).replace(tzinfo=self)

    def __getinitargs__(self):
        return self._offset, self._name

    def __reduce__(self):
        return FixedTimezone, (self._offset, self._name)

    def __eq__(self, other):
        if isinstance(other, FixedTimezone):
            return self._offset == other._offset
        if isinstance(other, _dt.timezone):
            return other.utcoffset(None) == self._delta
        return NotImplemented

    def __hash__(self):
        return hash(self._offset)

    def __repr__(self):
        name = "" if self._name is None else ', name="%s"' % self._name
        return "FixedTimezone(%d%s)" % (self._offset, name)


def _utc():
    try:
        return Timezone("UTC")
    except InvalidTimezone:  # no tz database on this machine
        return FixedTimezone(0, name="UTC")


UTC = _utc()

__all__ = ["UTC", "FixedTimezone", "Timezone", "PendulumTimezone"]
