"""lithoflow's python-dateutil stand-in (compat/_fallback/dateutil): relativedelta's arithmetic,
parser.parse/isoparse and tz, against values worked out from dateutil's documented semantics (and
checked against python-dateutil 2.9)."""

import datetime as dt
import warnings

from tests.test_fallback_support import FallbackCase

D = dt.date
T = dt.datetime


class RelativedeltaTest(FallbackCase):
    def setUp(self):
        self.m = self.mod("dateutil.relativedelta")
        self.rd = self.m.relativedelta

    def test_months_clip_to_the_end_of_the_month(self):
        rd = self.rd
        self.assertEqual(D(2024, 1, 31) + rd(months=1), D(2024, 2, 29))
        self.assertEqual(D(2023, 1, 31) + rd(months=1), D(2023, 2, 28))
        self.assertEqual(T(2024, 3, 31, 10) - rd(months=1), T(2024, 2, 29, 10))
        self.assertEqual(D(2024, 2, 29) + rd(years=1), D(2025, 2, 28))
        self.assertEqual(D(2024, 11, 15) + rd(months=3), D(2025, 2, 15))
        self.assertEqual(D(2024, 1, 15) + rd(months=-13), D(2022, 12, 15))
        self.assertEqual(D(2024, 1, 31) + rd(months=1) + rd(months=1), D(2024, 3, 29))
        self.assertEqual(D(2024, 1, 31) + rd(months=2), D(2024, 3, 31))

    def test_documented_examples(self):
        rd, MO, WE, FR = self.rd, self.m.MO, self.m.WE, self.m.FR
        now = T(2003, 9, 17, 20, 54, 47, 282310)
        today = D(2003, 9, 17)
        self.assertEqual(now + rd(months=+1), T(2003, 10, 17, 20, 54, 47, 282310))
        self.assertEqual(now + rd(months=+1, weeks=+1), T(2003, 10, 24, 20, 54, 47, 282310))
        self.assertEqual(today + rd(months=+1, weeks=+1, hour=10), T(2003, 10, 24, 10, 0))
        self.assertEqual(today + rd(weekday=FR), D(2003, 9, 19))
        self.assertEqual(today + rd(weekday=FR(-1)), D(2003, 9, 12))
        self.assertEqual(today + rd(days=+1, weekday=WE(+1)), D(2003, 9, 24))
        self.assertEqual(today + rd(weekday=WE(+1)), D(2003, 9, 17))
        self.assertEqual(today + rd(weekday=MO(+2)), D(2003, 9, 29))
        self.assertEqual(T(2003, 1, 1) + rd(day=1, weekday=MO(+1)), T(2003, 1, 6))
        self.assertEqual(D(2003, 1, 1) + rd(yearday=260), D(2003, 9, 17))
        self.assertEqual(D(2004, 1, 1) + rd(yearday=260), D(2004, 9, 16))
        self.assertEqual(D(2004, 1, 1) + rd(nlyearday=260), D(2004, 9, 17))
        self.assertEqual(rd(D(2003, 10, 24), D(2003, 1, 1)), rd(months=+9, days=+23))
        self.assertEqual(D(2003, 1, 1) + rd(day=31, month=2), D(2003, 2, 28))

    def test_absolute_fields_replace(self):
        rd = self.rd
        self.assertEqual(T(2024, 5, 17, 13, 45, 10, 5) + rd(year=2020, month=2, day=30, hour=1, minute=2,
                                                            second=3, microsecond=4),
                         T(2020, 2, 29, 1, 2, 3, 4))
        self.assertEqual(D(2024, 5, 17) + rd(day=1, months=-1), D(2024, 4, 1))
        self.assertEqual(D(2024, 5, 17) + rd(hour=5), T(2024, 5, 17, 5))  # time fields make a datetime
        self.assertIs(type(D(2024, 5, 17) + rd(days=1)), D)

    def test_leapdays(self):
        rd = self.rd
        self.assertEqual(D(2024, 3, 1) + rd(leapdays=1), D(2024, 3, 2))
        self.assertEqual(D(2023, 3, 1) + rd(leapdays=1), D(2023, 3, 1))
        self.assertEqual(D(2024, 2, 1) + rd(leapdays=1), D(2024, 2, 1))
        self.assertEqual(D(2023, 12, 1) + rd(months=3, leapdays=-1), D(2024, 2, 29))

    def test_normalisation_repr_and_operators(self):
        rd, MO = self.rd, self.m.MO
        self.assertEqual(repr(rd(hours=25)), "relativedelta(days=+1, hours=+1)")
        self.assertEqual(repr(rd(months=14, seconds=-61)), "relativedelta(years=+1, months=+2, minutes=-1, seconds=-1)")
        self.assertEqual(repr(rd(microseconds=1500000)), "relativedelta(seconds=+1, microseconds=+500000)")
        self.assertEqual(repr(rd(day=31, weekday=MO(-1))), "relativedelta(day=31, weekday=MO(-1))")
        w = rd(weeks=2, days=3)
        self.assertEqual((w.days, w.weeks), (17, 2))
        self.assertEqual(rd(months=1) + rd(days=2, day=5), rd(months=1, days=2, day=5))
        self.assertEqual(rd(months=3) - rd(months=1), rd(months=2))
        self.assertEqual(-rd(years=1, day=3), rd(years=-1, day=3))
        self.assertEqual(rd(days=3) * 2, rd(days=6))
        self.assertEqual(rd(days=4) / 2, rd(days=2))
        self.assertEqual(rd(days=1) + dt.timedelta(hours=1), rd(days=1, hours=1))
        self.assertEqual(rd(weekday=MO), rd(weekday=MO(+1)))
        self.assertNotEqual(rd(weekday=MO(+2)), rd(weekday=MO(+1)))
        self.assertFalse(rd())
        self.assertTrue(rd(day=1))
        self.assertEqual(rd(weekday=0).weekday, MO)
        with self.assertRaises(ValueError):
            rd(months=1.5)
        self.assertEqual(rd(days=1.5, hours=1).normalized(), rd(days=1, hours=13))

    def test_difference(self):
        rd = self.rd
        self.assertEqual(rd(T(2024, 3, 1), T(2024, 1, 31)), rd(months=1, days=1))
        self.assertEqual(rd(T(2024, 1, 31), T(2024, 3, 1)), rd(months=-1, days=-1))
        self.assertEqual(rd(T(2025, 6, 1, 12), T(2024, 1, 1)), rd(years=1, months=5, hours=12))
        self.assertEqual(rd(D(2024, 2, 1), T(2024, 1, 1, 6)), rd(days=30, hours=18))
        with self.assertRaises(TypeError):
            rd("2024", D(2024, 1, 1))


class ParserTest(FallbackCase):
    def setUp(self):
        self.p = self.mod("dateutil.parser")
        self.tz = self.mod("dateutil.tz")
        self.default = T(2026, 12, 5)

    def parse(self, text, **kw):
        return self.p.parse(text, default=self.default, **kw)

    def test_iso_and_common_formats(self):
        utc, off = self.tz.UTC, self.tz.tzoffset
        cases = {
            "2024-01-31": T(2024, 1, 31),
            "2024-01-31T10:11:12": T(2024, 1, 31, 10, 11, 12),
            "2024-01-31 10:11:12.5": T(2024, 1, 31, 10, 11, 12, 500000),
            "2024-01-31T10:11:12Z": T(2024, 1, 31, 10, 11, 12, tzinfo=utc),
            "2024-01-31T10:11:12+02:00": T(2024, 1, 31, 10, 11, 12, tzinfo=off(None, 7200)),
            "01/31/2024": T(2024, 1, 31),
            "31/01/2024": T(2024, 1, 31),
            "05/06/2024": T(2024, 5, 6),
            "2024/01/31": T(2024, 1, 31),
            "31.01.2024": T(2024, 1, 31),
            "Jan 31 2024": T(2024, 1, 31),
            "January 31, 2024": T(2024, 1, 31),
            "31 January 2024": T(2024, 1, 31),
            "31-Jan-2024": T(2024, 1, 31),
            "31 Jan 2024 10:30 PM": T(2024, 1, 31, 22, 30),
            "Wed, 31 Jan 2024 10:05:03 +0000": T(2024, 1, 31, 10, 5, 3, tzinfo=utc),
            "Thu Sep 25 10:36:28 2003": T(2003, 9, 25, 10, 36, 28),
            "25 Sep 2003 10:49:41,502": T(2003, 9, 25, 10, 49, 41, 502000),
            "20240131": T(2024, 1, 31),
            "20240131T101112": T(2024, 1, 31, 10, 11, 12),
            "10:30": T(2026, 12, 5, 10, 30),
            "10pm": T(2026, 12, 5, 22),
            "12 am": T(2026, 12, 5, 0),
            "Jan 2024": T(2024, 1, 5),
            "2024": T(2024, 12, 5),
            "Jan 5": T(2026, 1, 5),
            "1st January 2024": T(2024, 1, 1),
            "Jan 1st, 2024 at 3:45pm": T(2024, 1, 1, 15, 45),
            "12/31/99": T(1999, 12, 31),
            "Monday": T(2026, 12, 7),
            "Tuesday, January 30, 2024": T(2024, 1, 30),
        }
        for text, want in cases.items():
            with self.subTest(text=text):
                got = self.parse(text)
                self.assertEqual(got, want)
                self.assertEqual(got.tzinfo is None, want.tzinfo is None)

    def test_dayfirst_yearfirst_default_and_tz_options(self):
        self.assertEqual(self.parse("05/06/2024", dayfirst=True), T(2024, 6, 5))
        self.assertEqual(self.parse("01/02/03", yearfirst=True), T(2001, 2, 3))
        self.assertEqual(self.parse("01/02/03"), T(2003, 1, 2))
        self.assertEqual(self.p.parse("Feb", default=T(2024, 1, 31)), T(2024, 2, 29))
        self.assertIsNone(self.parse("2024-01-31T10:00:00+02:00", ignoretz=True).tzinfo)
        est = self.tz.tzoffset("EST", -18000)
        self.assertEqual(self.parse("2024-01-31 10:00 EST", tzinfos={"EST": est}).utcoffset(),
                         dt.timedelta(hours=-5))
        self.assertEqual(self.parse("2024-01-31 10:00 XYZ", tzinfos={"XYZ": 3600}).utcoffset(),
                         dt.timedelta(hours=1))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self.assertIsNone(self.parse("2024-01-31 10:00 XYZ").tzinfo)
        self.assertEqual(self.parse("Today is January 1, 2047 at 8:21:00AM", fuzzy=True), T(2047, 1, 1, 8, 21))

    def test_errors(self):
        for text in ("hello", "", "2024-02-30", "32/13/2024"):
            with self.subTest(text=text):
                with self.assertRaises(self.p.ParserError):
                    self.parse(text)
        self.assertTrue(issubclass(self.p.ParserError, ValueError))
        self.assertIn("Unknown string format: hello", str(self._error("hello")))

    def _error(self, text):
        try:
            self.parse(text)
        except self.p.ParserError as e:
            return e
        return None

    def test_isoparse(self):
        iso, utc, off = self.p.isoparse, self.tz.UTC, self.tz.tzoffset
        self.assertEqual(iso("2024-01-31"), T(2024, 1, 31))
        self.assertEqual(iso("2024-01"), T(2024, 1, 1))
        self.assertEqual(iso("2024"), T(2024, 1, 1))
        self.assertEqual(iso("20240131T1011"), T(2024, 1, 31, 10, 11))
        self.assertEqual(iso("2024-W05-3"), T(2024, 1, 31))
        self.assertEqual(iso("2024031"), T(2024, 1, 31))
        self.assertEqual(iso("2024-01-31T10"), T(2024, 1, 31, 10))
        self.assertEqual(iso("2024-01-31T24:00:00"), T(2024, 2, 1))
        self.assertEqual(iso("2024-01-31T10:11:12.123456789Z"), T(2024, 1, 31, 10, 11, 12, 123456, tzinfo=utc))
        self.assertIs(iso("2024-01-31T10:11:12+00:00").tzinfo, utc)
        self.assertEqual(iso("2024-01-31T10:11:12.5+0530").tzinfo, off(None, 19800))
        self.assertEqual(iso("2024-01-31X10"), T(2024, 1, 31, 10))  # any one character separates
        for bad in ("202401", "Jan 2024", "2024-01-31T10:11:12 junk", "2024-01-31T25"):
            with self.subTest(bad=bad):
                with self.assertRaises(ValueError):
                    iso(bad)


class TzTest(FallbackCase):
    def setUp(self):
        self.tz = self.mod("dateutil.tz")

    def test_zones(self):
        tz = self.tz
        self.assertIs(tz.tzutc(), tz.UTC)
        self.assertEqual(tz.UTC.utcoffset(None), dt.timedelta(0))
        self.assertEqual(tz.tzoffset(None, 0), tz.UTC)
        self.assertEqual(tz.tzoffset("BRST", -10800).utcoffset(None), dt.timedelta(hours=-3))
        self.assertEqual(tz.tzoffset("X", dt.timedelta(hours=2)).tzname(None), "X")
        self.assertEqual(T(2024, 1, 1, tzinfo=tz.gettz("UTC")).utcoffset(), dt.timedelta(0))
        paris = tz.gettz("Europe/Paris")
        self.assertEqual(T(2024, 7, 1, tzinfo=paris).utcoffset(), dt.timedelta(hours=2))
        self.assertIsNone(tz.gettz("Not/AZone"))
        self.assertIsInstance(tz.gettz(), dt.tzinfo)
        self.assertIsInstance(T(2024, 1, 1, tzinfo=tz.tzlocal()).utcoffset(), dt.timedelta)
        self.assertEqual(T(2024, 1, 1, 12, tzinfo=tz.UTC).astimezone(tz.tzoffset(None, 3600)).hour, 13)
        self.assertFalse(tz.datetime_exists(T(2024, 3, 31, 2, 30), paris))
        self.assertTrue(tz.datetime_ambiguous(T(2024, 10, 27, 2, 30), paris))
