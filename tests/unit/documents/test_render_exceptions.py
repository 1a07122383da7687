"""例外一覧: counts per department and category, then the items behind them."""
from __future__ import annotations

import io
from datetime import date, datetime

from pypdf import PdfReader

from lifecycle.documents.render import ExceptionCategory as Cat, ExceptionGroup, ExceptionRow, ExceptionsReport, Imprint, render_exceptions_pdf

IMPRINT = Imprint("○○県総務部市町課", datetime(2026, 11, 22, 5, 5), "監査 花子")


def text_of(pdf: bytes) -> str:
    return "".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf)).pages)


def test_grouped_by_department_with_counts():
    report = ExceptionsReport(date(2026, 11, 22), [
        ExceptionGroup("税務課", [
            ExceptionRow(Cat.MEDIUM_OVERDUE, "M-2026-000001", "課税資料 DVD-R", "返却期限 令和8年10月31日（22日超過）"),
            ExceptionRow(Cat.MEDIUM_OVERDUE, "M-2026-000002", "課税資料 CD-R", "返却期限 令和8年11月1日（21日超過）"),
            ExceptionRow(Cat.RETENTION_PASSED, "F-2020-000009", "住民票の写し", "保存期限 令和7年3月31日"),
        ]),
        ExceptionGroup("住宅課", []),
        ExceptionGroup("市町課", [
            ExceptionRow(Cat.PURGE_FAILED, "", "個人番号の自動消去", "令和8年11月20日 2時00分 失敗"),
            ExceptionRow(Cat.LEASE_ENDED_UNERASED, "D-2021-000004", "住基ネット端末", "リース満了 令和8年9月30日"),
        ]),
    ], IMPRINT)
    text = text_of(render_exceptions_pdf(report))
    assert "例外一覧" in text and "令和8年11月22日現在" in text
    assert "税務課（3件）" in text and "市町課（2件）" in text
    assert "住宅課（" not in text  # listed in the summary only
    assert "返却期限超過の媒体（2件）" in text and "保存期限超過の帳票（1件）" in text
    assert "自動消去の失敗・未実行（1件）" in text
    assert "リース満了後に消去証明のない機器（1件）" in text
    assert "M-2026-000002" in text and "D-2021-000004" in text
    assert text.index("税務課（3件）") < text.index("M-2026-000001") < text.index("市町課（2件）")
    assert "合計" in text


def test_nothing_to_report():
    report = ExceptionsReport(date(2026, 11, 22), [ExceptionGroup("税務課", [])], IMPRINT)
    text = text_of(render_exceptions_pdf(report))
    assert "該当なし" in text and "1 / 1 頁" in text


def test_a_retention_section_is_labelled_by_what_it_holds():
    from lifecycle.documents.render import section_label

    assert section_label(Cat.RETENTION_PASSED, ["F-2026-000001"]) == "保存期限超過の帳票"
    assert section_label(Cat.RETENTION_PASSED, ["M-2026-000003"]) == "保存期限超過の媒体"
    assert section_label(Cat.RETENTION_PASSED, ["F-2026-000001", "M-2026-000003"]) == "保存期限超過の帳票・媒体"
    assert section_label(Cat.RETENTION_PASSED, ["F-2026-000001"], complete=False) == "保存期限超過の帳票・媒体"
    report = ExceptionsReport(date(2026, 11, 22), [ExceptionGroup("市町課", [
        ExceptionRow(Cat.RETENTION_PASSED, "M-2026-000003", "旅券 一括提供データ", "媒体、保存期限 令和8年11月1日")])],
        IMPRINT)
    text = text_of(render_exceptions_pdf(report))
    assert "保存期限超過の媒体（1件）" in text and "保存期限超過の帳票（" not in text
