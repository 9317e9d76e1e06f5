"""Airflow's timetables (airflow/timetables/**): the classes DAG files pass as ``schedule``
or ``timetable``. lithoflow keeps their arguments (``cron``/``timezone``/``interval``/
``delta``/``event_dates``...) for the description; scheduling is the engine's."""
