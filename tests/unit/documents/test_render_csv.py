"""管理簿 CSV: opens in Excel as Japanese, round-trips, streams, and cannot carry a formula."""
from __future__ import annotations

import csv
import io
import itertools

from lifecycle.documents.render import iter_ledger_csv

COLUMNS = ["管理番号", "件名", "所属", "備考"]


def read(chunks) -> list[list[str]]:
    data = b"".join(chunks)
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))


def test_starts_with_the_bom_and_uses_crlf():
    data = b"".join(iter_ledger_csv(COLUMNS, [["F-2026-000001", "住民票の写し", "税務課", ""]]))
    assert data.startswith(b"\xef\xbb\xbf")
    assert data.count(b"\r\n") == 2 and data.count(b"\n") == 2
    assert data[3:].decode("utf-8").startswith("管理番号,件名,所属,備考\r\n")


def test_round_trips_through_csv_reader():
    rows = [["F-2026-000001", "件名, カンマ入り", "税務課", '引用符 "あり"'],
            ["M-2026-000002", "改行\r\nを含む", "住宅課", ""],
            ["D-2026-000003", "令和8年11月22日", "旅券センター", "   前後の空白  "]]
    assert read(iter_ledger_csv(COLUMNS, rows)) == [COLUMNS, *rows]


def test_formula_cells_are_neutralised():
    rows = [["=HYPERLINK(\"http://evil.example\",\"開く\")", "+1+1", "-2+3", "@SUM(A1)"],
            ["\tタブ", "\r改行", "普通の件名", "A=B"]]
    out = read(iter_ledger_csv(COLUMNS, rows))[1:]
    assert out[0] == ["'=HYPERLINK(\"http://evil.example\",\"開く\")", "'+1+1", "'-2+3", "'@SUM(A1)"]
    assert out[1] == ["'\tタブ", "'\r改行", "普通の件名", "A=B"]


def test_header_cells_are_neutralised_too():
    assert read(iter_ledger_csv(["=1+1"], []))[0] == ["'=1+1"]


def test_none_becomes_an_empty_cell():
    assert read(iter_ledger_csv(["a", "b"], [[None, "x"]]))[1] == ["", "x"]


def test_streams_without_reading_all_rows():
    consumed = itertools.count()

    def endless():
        while True:
            n = next(consumed)
            yield [f"F-2026-{n:06d}", "件名", "所属", ""]

    chunks = iter_ledger_csv(COLUMNS, endless())
    first, second = next(chunks), next(chunks)
    assert first.startswith(b"\xef\xbb\xbf")
    assert b"F-2026-000000" in second
    assert next(consumed) < 2000  # only the chunk being written was read
