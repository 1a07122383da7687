from datetime import date, datetime

from lifecycle.wareki import wareki_date, wareki_datetime, wareki_month


def test_reiwa_dates():
    assert wareki_date(date(2026, 11, 22)) == "令和8年11月22日"
    assert wareki_date(date(2019, 5, 1)) == "令和元年5月1日"
    assert wareki_date(date(2019, 4, 30)) == "平成31年4月30日"


def test_datetimes_are_shown_in_jst():
    # 2026-11-22 15:30 UTC is 2026-11-23 00:30 JST
    assert wareki_datetime(datetime(2026, 11, 22, 15, 30)) == "令和8年11月23日 0時30分"
    assert wareki_date(datetime(2026, 11, 22, 15, 30)) == "令和8年11月23日"


def test_month():
    assert wareki_month(2026, 4) == "令和8年4月"
