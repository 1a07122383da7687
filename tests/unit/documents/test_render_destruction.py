"""廃棄記録書 / 消去証明受領記録: how, by whom, witnessed by whom, and the certificate's digest."""
from __future__ import annotations

import hashlib
import io
from datetime import date, datetime

from pypdf import PdfReader

from lifecycle.documents.render import DestructionItem, DestructionRecord, Imprint, render_destruction_pdf

SHA = hashlib.sha256(b"certificate").hexdigest()
IMPRINT = Imprint("○○県総務部市町課", datetime(2026, 11, 22, 5, 5), "山田 太郎")


def record(**kw) -> DestructionRecord:
    values = dict(
        batch_id="DS-2026-0042", method="溶解", place="本庁舎地下 文書保管室",
        performer="佐藤 花子", witness="鈴木 一郎", status="廃棄済",
        items=[DestructionItem(f"F-2026-{i:06d}", "帳票", "住民票の写し", "税務課") for i in range(3)],
        imprint=IMPRINT, din_level="P-4", planned_on=date(2026, 11, 20),
        performed_at=datetime(2026, 11, 20, 1, 30), certificate_name="yokai-2026-0042.pdf",
        certificate_sha256=SHA, integrity="証明書ファイルの整合性: 一致", integrity_ok=True)
    values.update(kw)
    return DestructionRecord(**values)


def text_of(pdf: bytes) -> str:
    return "".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf)).pages)


def test_destruction_record_shows_everything_an_auditor_checks():
    text = text_of(render_destruction_pdf(record()))
    assert "廃棄記録書" in text and "DS-2026-0042" in text
    assert "溶解" in text and "P-4" in text and "本庁舎地下 文書保管室" in text
    assert "令和8年11月20日" in text and "令和8年11月20日 10時30分" in text
    assert "立会者" in text and "鈴木 一郎" in text and "佐藤 花子" in text
    assert SHA in text and "yokai-2026-0042.pdf" in text
    assert "証明書ファイルの整合性: 一致" in text
    for i in range(3):
        assert f"F-2026-{i:06d}" in text
    assert "対象（3件）" in text


def test_erasure_record_has_its_own_title():
    text = text_of(render_destruction_pdf(record(erasure=True, method="消去", din_level=None)))
    assert "消去証明受領記録" in text and "廃棄記録書" not in text
    assert "消去方法" in text and "（指定なし）" not in text and "実施場所" not in text  # its own fields


def test_a_tampered_certificate_is_a_warning():
    text = text_of(render_destruction_pdf(record(
        integrity="証明書ファイルの整合性: 不一致（改ざんの可能性）", integrity_ok=False)))
    assert "【警告】証明書ファイルの整合性: 不一致（改ざんの可能性）" in text


def test_not_yet_performed_and_no_certificate():
    text = text_of(render_destruction_pdf(record(performed_at=None, certificate_name=None,
                                                 certificate_sha256=None, integrity="")))
    assert "（未実施）" in text and "（未受領）" in text


def test_many_items_run_over_pages():
    items = [DestructionItem(f"M-2026-{i:06d}", "媒体", "課税資料 DVD-R", "税務課") for i in range(150)]
    reader = PdfReader(io.BytesIO(render_destruction_pdf(record(items=items))))
    total = len(reader.pages)
    assert total > 1
    texts = [p.extract_text() for p in reader.pages]
    assert all(f"{n} / {total} 頁" in t for n, t in enumerate(texts, 1))
    assert all(f"M-2026-{i:06d}" in "".join(texts) for i in range(150))
