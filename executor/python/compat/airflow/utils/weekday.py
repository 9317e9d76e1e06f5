"""Airflow's ``WeekDay`` (airflow/utils/weekday.py)."""

import enum


@enum.unique
class WeekDay(enum.IntEnum):
    """Python Enum containing Days of the Week."""

    MONDAY = 1
    TUESDAY = 2
    WEDNESDAY = 3
    THURSDAY = 4
    FRIDAY = 5
    SATURDAY = 6
    SUNDAY = 7

    @classmethod
    def get_weekday_number(cls, week_day_str):
        sanitized_week_day_str = week_day_str.upper()
        if sanitized_week_day_str not in cls.__members__:
            raise AttributeError(f'Invalid Week Day passed: "{week_day_str}"')
        return cls[sanitized_week_day_str]

    @classmethod
    def convert(cls, day):
        if isinstance(day, WeekDay):
            return day
        return cls.get_weekday_number(week_day_str=day)

    @classmethod
    def validate_week_day(cls, week_day):
        if isinstance(week_day, str):
            return {cls.get_weekday_number(week_day)}
        if isinstance(week_day, WeekDay):
            return {week_day}
        if isinstance(week_day, (set, list, tuple)):
            return {cls.convert(d) for d in week_day}
        raise TypeError(
            f"Unsupported Type for week_day parameter: {type(week_day)}."
            "Input should be iterable type:str, set, list, dict or Weekday enum type"
        )
