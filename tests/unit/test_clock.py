"""Times are stored as naive UTC and shown in JST: the quick path for stored values must say
exactly what converting between time zones says."""
from datetime import datetime, timedelta, timezone

from hypothesis import given
from hypothesis import strategies as st

from lifecycle.clock import JST, iso, jst_wall, to_jst
from lifecycle.wareki import wareki_date, wareki_datetime

STORED = st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2200, 1, 1))
OFFSETS = st.integers(min_value=-12 * 60, max_value=14 * 60).map(lambda m: timezone(timedelta(minutes=m)))


@given(STORED)
def test_a_stored_time_reads_the_same_as_converted_to_jst(value):
    converted = to_jst(value)
    assert iso(value) == converted.isoformat(timespec="seconds")
    assert jst_wall(value) == converted.replace(tzinfo=None)
    assert wareki_datetime(value).endswith(f"{converted.hour}時{converted.minute:02d}分")
    assert wareki_date(value) == wareki_date(converted.date())


@given(STORED, OFFSETS)
def test_an_aware_time_of_any_offset_is_shown_in_jst(value, offset):
    aware = value.replace(tzinfo=offset)
    assert iso(aware) == aware.astimezone(JST).isoformat(timespec="seconds")
    assert iso(aware).endswith("+09:00")


def test_midnight_utc_is_nine_in_the_morning_in_japan():
    assert iso(datetime(2026, 11, 21, 15, 0)) == "2026-11-22T00:00:00+09:00"
    assert wareki_datetime(datetime(2026, 11, 21, 15, 0)) == "令和8年11月22日 0時00分"
    assert iso(None) is None and wareki_datetime(None) == ""
