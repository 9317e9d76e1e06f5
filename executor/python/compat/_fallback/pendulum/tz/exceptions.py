"""lithoflow's fallback for ``pendulum.tz.exceptions``: installing the real pendulum replaces it."""


class TimezoneError(ValueError):
    pass


class InvalidTimezone(TimezoneError):
    pass


class NonExistingTime(TimezoneError):
    pass


class AmbiguousTime(TimezoneError):
    pass
