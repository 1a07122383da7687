import shutil
import subprocess
from datetime import date, datetime, timedelta

import pytest

from lifecycle.fiscal import fiscal_year_label
from lifecycle.wareki import era_year, wareki_date, wareki_datetime, wareki_month


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


@pytest.mark.parametrize("day, shown", [
    (date(2019, 5, 1), "令和元年5月1日"), (date(2019, 4, 30), "平成31年4月30日"),
    (date(1989, 1, 8), "平成元年1月8日"), (date(1989, 1, 7), "昭和64年1月7日"),
    (date(1926, 12, 25), "昭和元年12月25日"), (date(1926, 12, 24), "大正15年12月24日"),
    (date(1912, 7, 30), "大正元年7月30日"), (date(1912, 7, 29), "明治45年7月29日"),
    (date(1900, 1, 1), "明治33年1月1日"), (date(1873, 1, 1), "明治6年1月1日"),
])
def test_era_boundaries(day, shown):
    assert wareki_date(day) == shown


@pytest.mark.parametrize("day, shown", [
    # Before 明治6年 (1873) Japan's months and days were lunisolar: a Gregorian date has no 和暦 one.
    (date(1872, 12, 31), "1872年12月31日"), (date(1868, 1, 25), "1868年1月25日"),
    (date(1868, 1, 24), "1868年1月24日"), (date(1800, 1, 1), "1800年1月1日"), (date.min, "1年1月1日"),
])
def test_days_before_meiji_6_are_shown_with_the_western_year(day, shown):
    assert wareki_date(day) == shown
    assert era_year(day) is None


def test_months_and_fiscal_years_follow_the_same_rule():
    assert wareki_month(1873, 1) == "明治6年1月"
    assert wareki_month(1872, 12) == "1872年12月"
    assert fiscal_year_label(2019) == "令和元年度" and fiscal_year_label(1988) == "昭和63年度"
    assert fiscal_year_label(1872) == "1872年度"


_ICU_SWEEP = """
const fmt = new Intl.DateTimeFormat('ja-JP-u-ca-japanese', {era: 'long', year: 'numeric', month: 'numeric',
                                                          day: 'numeric', timeZone: 'UTC'});
const out = [];
for (let t = Date.UTC(1873, 0, 1); t <= Date.UTC(2030, 11, 31); t += 86400000) {
  const p = Object.fromEntries(fmt.formatToParts(new Date(t)).map(part => [part.type, part.value]));
  out.push(`${p.era}${p.year === '1' ? '元' : p.year}年${p.month}月${p.day}日`);
}
process.stdout.write(out.join('\\n'));
"""


@pytest.mark.skipif(shutil.which("node") is None, reason="Node.js (for ICU's Japanese calendar) is not installed")
def test_every_day_from_meiji_6_to_2030_reads_as_icu_has_it():
    """ICU's Japanese calendar (Node's Intl, a calendar this project did not write) and ours agree
    on every day from 1873-01-01, when Japan took the Gregorian calendar, to 2030-12-31."""
    shown = subprocess.run(["node", "-e", _ICU_SWEEP], capture_output=True, text=True, check=True,
                           timeout=120).stdout.split("\n")
    day, differences = date(1873, 1, 1), []
    for icu in shown:
        ours = wareki_date(day)
        if ours != icu:
            differences.append((day.isoformat(), ours, icu))
        day += timedelta(days=1)
    assert day == date(2031, 1, 1) and not differences, differences[:5]
