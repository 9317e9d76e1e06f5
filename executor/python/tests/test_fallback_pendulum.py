"""lithoflow's pendulum stand-in (compat/_fallback/pendulum): pendulum 3's values for what DAG files
use (the expected values are real pendulum 3.0's results; PendulumDifferencesTest has where the stand-in
knowingly differs)."""

import datetime as dt
import zoneinfo

from tests.test_fallback_support import FallbackCase


class PendulumTest(FallbackCase):
    def setUp(self):
        self.p = self.mod("pendulum")

    def test_datetime_is_an_aware_datetime_in_utc_by_default(self):
        p = self.p
        d = p.datetime(2024, 1, 31, 10, 5, 3, 120000)
        self.assertIsInstance(d, dt.datetime)
        self.assertIsInstance(d, p.DateTime)
        self.assertEqual(d, dt.datetime(2024, 1, 31, 10, 5, 3, 120000, tzinfo=dt.timezone.utc))
        self.assertEqual(d.tz.name, "UTC")
        self.assertEqual(str(d), "2024-01-31 10:05:03.120000+00:00")
        self.assertEqual(repr(d), "DateTime(2024, 1, 31, 10, 5, 3, 120000, tzinfo=Timezone('UTC'))")
        ams = p.datetime(2026, 1, 1, tz="Europe/Amsterdam")
        self.assertIsInstance(ams.tzinfo, zoneinfo.ZoneInfo)
        self.assertEqual((ams.tzinfo.key, ams.tzinfo.name, ams.timezone_name), ("Europe/Amsterdam",) * 3)
        self.assertEqual(ams.utcoffset(), dt.timedelta(hours=1))
        self.assertIsNone(p.datetime(2024, 1, 1, tz=None).tzinfo)
        self.assertIsNone(p.naive(2024, 1, 1).tzinfo)

    def test_time_and_date(self):
        p = self.p
        t = p.time(6, 30)
        self.assertIsInstance(t, dt.time)
        self.assertTrue(p.time(6, 30) <= dt.time(7) < p.time(11, 0))
        self.assertEqual(str(t), "06:30:00")
        self.assertEqual(repr(p.Time(23, 30, 15)), "Time(23, 30, 15)")
        self.assertEqual(t.add(hours=18), p.time(0, 30))
        self.assertEqual(t.format("h:mm A"), "6:30 AM")
        d = p.date(2024, 1, 31)
        self.assertIsInstance(d, dt.date)
        self.assertEqual(d.add(months=1), dt.date(2024, 2, 29))
        self.assertEqual(d.start_of("week"), dt.date(2024, 1, 29))
        self.assertEqual(d.day_of_week, p.WEDNESDAY)
        self.assertEqual((p.date(2024, 3, 1) - p.date(2024, 1, 1)).in_days(), 60)
        self.assertEqual(p.DateTime.combine(d, p.time(0)), dt.datetime(2024, 1, 31))
        self.assertEqual(p.datetime(2024, 1, 31, 10, 5).time(), p.time(10, 5))
        self.assertEqual(repr(p.datetime(2024, 1, 31, 10).date()), "Date(2024, 1, 31)")

    def test_add_and_subtract(self):
        p = self.p
        d = p.datetime(2024, 1, 31, 10)
        self.assertEqual(d.add(months=1), p.datetime(2024, 2, 29, 10))
        self.assertEqual(p.datetime(2023, 1, 31).add(months=1), p.datetime(2023, 2, 28))
        self.assertEqual(d.subtract(years=1, days=1), p.datetime(2023, 1, 30, 10))
        self.assertIsInstance(d + dt.timedelta(days=1), p.DateTime)
        self.assertIsInstance(d - dt.timedelta(days=1), p.DateTime)
        # date units move the wall clock, time units the absolute time (across a DST change)
        paris = p.datetime(2024, 3, 31, 1, 30, tz="Europe/Paris")
        self.assertEqual(str(paris.add(hours=1)), "2024-03-31 03:30:00+02:00")
        self.assertEqual(str(paris.add(days=1)), "2024-04-01 01:30:00+02:00")
        self.assertEqual(str(paris.add(hours=24)), "2024-04-01 02:30:00+02:00")

    def test_dst_gaps_move_forward_and_timedeltas_add_absolute_time(self):
        p = self.p
        self.assertEqual(str(p.datetime(2024, 3, 31, 2, 30, tz="Europe/Paris")), "2024-03-31 03:30:00+02:00")
        self.assertEqual(str(p.datetime(2024, 3, 30, 2, 30, tz="Europe/Paris").add(days=1)),
                         "2024-03-31 03:30:00+02:00")
        self.assertEqual(str(p.datetime(2024, 10, 27, 2, 30, tz="Europe/Paris")), "2024-10-27 02:30:00+01:00")
        self.assertEqual(str(p.datetime(2024, 10, 27, 2, 30, tz="Europe/Paris", fold=0)),
                         "2024-10-27 02:30:00+02:00")
        self.assertEqual(str(p.datetime(2024, 3, 31, 1, 30, tz="Europe/Paris").replace(hour=2)),
                         "2024-03-31 03:30:00+02:00")
        self.assertEqual(str(p.datetime(2024, 3, 30, 2, 30, tz="Europe/Paris") + dt.timedelta(days=1)),
                         "2024-03-31 03:30:00+02:00")
        self.assertEqual(str(p.datetime(2024, 3, 31, 4, tz="Europe/Paris") - dt.timedelta(hours=2)),
                         "2024-03-31 01:00:00+01:00")
        self.assertEqual(str(p.datetime(2024, 3, 30, 12, tz="Europe/Paris") + p.duration(days=1, hours=1)),
                         "2024-03-31 13:00:00+02:00")

    def test_start_end_next_previous(self):
        p = self.p
        d = p.datetime(2024, 1, 31, 10, 5, 3, 120000)
        self.assertEqual(d.start_of("week"), p.datetime(2024, 1, 29))
        self.assertEqual(d.end_of("week"), p.datetime(2024, 2, 4, 23, 59, 59, 999999))
        self.assertEqual(d.start_of("month"), p.datetime(2024, 1, 1))
        self.assertEqual(d.end_of("month"), p.datetime(2024, 1, 31, 23, 59, 59, 999999))
        self.assertEqual(d.start_of("year"), p.datetime(2024, 1, 1))
        self.assertEqual(d.start_of("hour"), p.datetime(2024, 1, 31, 10))
        self.assertEqual(d.next(p.MONDAY), p.datetime(2024, 2, 5))
        self.assertEqual(d.previous(), p.datetime(2024, 1, 24))
        self.assertEqual(d.next(keep_time=True), p.datetime(2024, 2, 7, 10, 5, 3, 120000))
        self.assertEqual(d.first_of("month"), p.datetime(2024, 1, 1))
        self.assertEqual(d.last_of("month", p.FRIDAY), p.datetime(2024, 1, 26))
        self.assertEqual(d.at(5), p.datetime(2024, 1, 31, 5))
        self.assertEqual(d.on(2020, 2, 2).to_date_string(), "2020-02-02")
        self.assertEqual(d.set(hour=1, tz="Europe/Paris").offset, 3600)
        with self.assertRaises(ValueError):
            d.start_of("fortnight")

    def test_fields(self):
        p = self.p
        d = p.datetime(2024, 1, 28, 15, 5, 3)
        self.assertEqual(d.day_of_week, p.SUNDAY)
        self.assertEqual((int(p.MONDAY), int(p.SUNDAY)), (0, 6))
        self.assertEqual((d.day_of_year, d.week_of_year, d.days_in_month, d.quarter), (28, 4, 31, 1))
        self.assertEqual((d.int_timestamp, d.offset), (1706454303, 0))
        self.assertTrue(d.is_leap_year())

    def test_format_tokens(self):
        p = self.p
        d = p.datetime(2024, 1, 31, 10, 5, 3, 120000)
        self.assertEqual(d.format("dddd Do MMMM YYYY HH:mm:ss.SSS A Z ZZ z X Q E DDDD [at] LT LL"),
                         "Wednesday 31st January 2024 10:05:03.120 AM +00:00 +0000 UTC 1706695503 1 3 031 "
                         "at 10:05 AM January 31, 2024")
        self.assertEqual(d.format("YYYYMMDD"), "20240131")
        self.assertEqual(d.format("ddd, MMM D YY h:mm a"), "Wed, Jan 31 24 10:05 a")
        self.assertEqual(p.datetime(2024, 1, 28).format("d do dd"), "0 0th Su")
        self.assertEqual(d.to_datetime_string(), "2024-01-31 10:05:03")
        self.assertEqual(d.to_iso8601_string(), "2024-01-31T10:05:03.120000Z")
        self.assertEqual(d.to_day_datetime_string(), "Wed, Jan 31, 2024 10:05 AM")
        self.assertEqual(d.to_rfc2822_string(), "Wed, 31 Jan 2024 10:05:03 +0000")
        self.assertEqual(d.to_cookie_string(), "Wednesday, 31-Jan-2024 10:05:03 UTC")
        self.assertEqual(f"{d:YYYY/MM}", "2024/01")
        self.assertEqual(d.strftime("%Y-%m-%d"), "2024-01-31")

    def test_from_format(self):
        p = self.p
        self.assertEqual(p.from_format("31/01/2024 10:11", "DD/MM/YYYY HH:mm"), p.datetime(2024, 1, 31, 10, 11))
        d = p.from_format("Jan.05.2024", "MMM.DD.YYYY", tz="Europe/Paris")
        self.assertEqual((d.day, d.tz.name), (5, "Europe/Paris"))
        self.assertEqual(p.from_format("20240131", "YYYYMMDD").add(days=1).format("DD-MM-YYYY"), "01-02-2024")
        self.assertEqual(p.from_format("24", "YY").year, 2024)
        self.assertEqual(p.from_format("70", "YY").year, 1970)
        self.assertEqual(p.from_format("2024-01-02 +0200", "YYYY-MM-DD ZZ").offset, 7200)
        self.assertEqual(p.from_format("1st Jan 2024 3pm", "Do MMM YYYY ha"), p.datetime(2024, 1, 1, 15))
        with self.assertRaises(ValueError):
            p.from_format("2024-01-31", "DD/MM/YYYY")

    def test_parse(self):
        p = self.p
        self.assertEqual(p.parse("2024-01-02"), p.datetime(2024, 1, 2))
        self.assertEqual(p.parse("2024-01-02 10:00"), p.datetime(2024, 1, 2, 10))
        self.assertEqual(p.parse("20240102T1000"), p.datetime(2024, 1, 2, 10))
        d = p.parse("2024-01-02T10:00:00.5+02:00")
        self.assertEqual((d.microsecond, d.offset, d.tz.name), (500000, 7200, "+02:00"))
        self.assertEqual(p.parse("2024-01-02T10:00:00Z").tz.name, "UTC")
        self.assertEqual(str(p.parse("2024-01-02 10:00", tz="Europe/Paris")), "2024-01-02 10:00:00+01:00")
        self.assertEqual(repr(p.parse("2024-01-02", exact=True)), "Date(2024, 1, 2)")
        self.assertEqual(repr(p.parse("10:30", exact=True)), "Time(10, 30, 0)")
        self.assertEqual(p.parse("P1DT2H"), dt.timedelta(days=1, hours=2))
        parser_error = self.mod("pendulum.parsing.exceptions").ParserError
        with self.assertRaises(parser_error):
            p.parse("not a date")
        self.assertTrue(issubclass(parser_error, ValueError))
        self.assertEqual(p.parse("Jan 2 2024", strict=False), p.datetime(2024, 1, 2))

    def test_interval_and_duration(self):
        p = self.p
        i = p.interval(p.datetime(2024, 1, 1), p.datetime(2024, 3, 15, 5))
        self.assertEqual((i.in_days(), i.in_months(), i.years, i.months, i.days, i.remaining_days, i.hours),
                         (74, 2, 0, 2, 74, 0, 5))
        self.assertEqual(list(i.range("months")), [p.datetime(2024, 1, 1), p.datetime(2024, 2, 1),
                                                   p.datetime(2024, 3, 1)])
        self.assertEqual(len(list(p.interval(p.datetime(2024, 1, 1), p.datetime(2024, 1, 10)))), 10)
        # pendulum counts calendar days and months, times aside
        self.assertEqual(p.interval(p.datetime(2024, 1, 1, 10), p.datetime(2024, 1, 2, 9)).in_days(), 1)
        self.assertEqual(p.datetime(2024, 1, 31, 10).diff(p.datetime(2024, 3, 1)).in_days(), 30)
        self.assertEqual(p.datetime(2024, 3, 1).diff(p.datetime(2024, 1, 31, 10), False).in_days(), -30)
        self.assertEqual(p.interval(p.datetime(2024, 1, 31), p.datetime(2024, 2, 29)).in_months(), 1)
        diff = p.datetime(2024, 1, 31) - p.datetime(2024, 1, 1)
        self.assertIsInstance(diff, p.Interval)
        self.assertEqual((diff.days, diff.in_hours()), (30, 720))
        self.assertEqual(p.datetime(2024, 1, 1).diff_for_humans(p.datetime(2024, 3, 1)), "2 months before")
        neg = p.duration(hours=-25)
        self.assertEqual((neg.days, neg.seconds, neg.hours, neg.in_hours()), (-2, -3600, -1, -25))
        back = p.datetime(2024, 1, 1) - p.datetime(2024, 1, 2, 1, 25)
        self.assertEqual((back.days, back.seconds, back.in_hours()), (-1, -5100, -25))
        self.assertEqual(p.datetime(2024, 1, 1).diff_for_humans(p.datetime(2024, 7, 20)), "6 months before")
        self.assertEqual(p.datetime(2026, 1, 1).diff_for_humans(p.datetime(2024, 1, 1), absolute=True), "2 years")
        d = p.duration(days=10, hours=5, years=1, months=2)
        self.assertEqual((d.days, d.weeks, d.remaining_days, d.hours, d.in_days()), (435, 1, 3, 5, 435))
        self.assertEqual(d.in_words(), "1 year 2 months 1 week 3 days 5 hours")
        self.assertEqual(repr(d), "Duration(years=1, months=2, weeks=1, days=3, hours=5)")
        self.assertEqual(p.duration(hours=1), dt.timedelta(hours=1))
        self.assertEqual(p.datetime(2024, 1, 31) + p.duration(months=1), p.datetime(2024, 2, 29))

    def test_zones(self):
        p = self.p
        paris = p.timezone("Europe/Paris")
        self.assertIsInstance(paris, zoneinfo.ZoneInfo)
        self.assertIsInstance(paris, p.Timezone)
        self.assertEqual((paris.name, repr(paris)), ("Europe/Paris", "Timezone('Europe/Paris')"))
        self.assertIs(p.timezone("UTC"), p.UTC)
        self.assertEqual(p.UTC.name, "UTC")
        fixed = p.timezone(3600)  # pendulum 3: seconds
        self.assertEqual((fixed.name, fixed.utcoffset(None)), ("+01:00", dt.timedelta(hours=1)))
        with self.assertRaises(ValueError):
            p.timezone("Bad/Zone")
        tz = self.mod("pendulum.tz")
        self.assertIs(tz.UTC, p.UTC)
        timezone_mod = self.mod("pendulum.tz.timezone")
        self.assertIs(timezone_mod.Timezone, p.Timezone)
        self.assertEqual(paris.convert(p.datetime(2024, 1, 1)).hour, 1)
        self.assertEqual(paris.datetime(2024, 7, 1).utcoffset(), dt.timedelta(hours=2))
        self.assertEqual(p.datetime(2024, 1, 1).in_timezone("Asia/Tokyo").hour, 9)
        self.assertEqual(p.now("Europe/Paris").tz.name, "Europe/Paris")
        p.set_local_timezone(p.timezone("America/New_York"))
        try:
            self.assertEqual(p.local_timezone().name, "America/New_York")
            self.assertEqual(p.now().tz.name, "America/New_York")
            self.assertEqual(p.today().hour, 0)
            self.assertEqual(p.local(2024, 1, 1).offset, -18000)
        finally:
            p.set_local_timezone(None)

    def test_instance_and_timestamps(self):
        p = self.p
        self.assertEqual(p.instance(dt.datetime(2024, 1, 1)), p.datetime(2024, 1, 1))
        self.assertEqual(p.instance(dt.datetime(2024, 1, 1)).tz.name, "UTC")
        self.assertEqual(p.from_timestamp(0), p.datetime(1970, 1, 1))
        self.assertEqual(p.yesterday("UTC"), p.today("UTC").subtract(days=1))
        self.assertLess(abs((p.now("UTC") - dt.datetime.now(dt.timezone.utc)).total_seconds()), 3600)


class PendulumDifferencesTest(FallbackCase):
    """Where the stand-in knowingly differs from pendulum 3."""

    def test_pendulum_1_and_2_names_and_english_only(self):
        p = self.mod("pendulum")
        self.assertIs(p.period, p.interval)  # pendulum 2's name, kept for DAG files written for it
        self.assertEqual(len(list(p.period(p.datetime(2024, 1, 1), p.datetime(2024, 1, 10)))), 10)
        # pendulum 2's pendulum.tz.timezone(name) (pendulum 3 shadows it with its submodule)
        self.assertEqual(self.mod("pendulum.tz").timezone("Asia/Tokyo").name, "Asia/Tokyo")
        # pendulum 1's names, which Airflow 1.10 DAG files use
        self.assertEqual(str(p.create(2020, 11, 17, tz="US/Mountain")), "2020-11-17 00:00:00-07:00")
        self.assertIs(p.Pendulum, p.DateTime)
        self.assertEqual(p.strptime("2024-01-31", "%Y-%m-%d"), p.datetime(2024, 1, 31))
        with self.assertRaises(ValueError):  # English only (pendulum has locales)
            p.datetime(2024, 1, 1).format("MMMM", locale="fr")
