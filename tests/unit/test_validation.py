from datetime import date, datetime

import pytest

from lifecycle import validation as v
from lifecycle.errors import Invalid


@pytest.mark.parametrize("value, day", [
    ("1900-01-01", date(1900, 1, 1)), ("2999-12-31", date(2999, 12, 31)),
    ("２０２６－１１－２２", date(2026, 11, 22)), (" 2026-11-22 ", date(2026, 11, 22)),
    (date(2026, 11, 22), date(2026, 11, 22)),
])
def test_a_date_within_the_range_is_taken(value, day):
    assert v.a_date(value, "基準日") == day


@pytest.mark.parametrize("value", [
    "0001-01-01", "1899-12-31", "3000-01-01", "9999-12-31", date.min, date(1800, 1, 1), datetime(9999, 12, 31),
])
def test_a_date_out_of_range_is_refused_naming_the_field(value):
    with pytest.raises(Invalid) as refused:
        v.a_date(value, "基準日", field="as_of")
    assert refused.value.status == 422 and refused.value.code == "date_out_of_range"
    assert refused.value.field == "as_of"
    assert refused.value.message == "基準日は1900年から2999年までの日付で指定してください。"


@pytest.mark.parametrize("value", ["2026-02-30", "2026/11/22", "令和8年", 20261122])
def test_a_date_that_is_no_date_is_refused(value):
    with pytest.raises(Invalid) as refused:
        v.a_date(value, "基準日")
    assert "YYYY-MM-DD" in refused.value.message


def test_an_empty_date_is_none_unless_required():
    assert v.a_date("  ", "基準日", required=False) is None
    with pytest.raises(Invalid, match="基準日を入力してください"):
        v.a_date(None, "基準日")
