"""保管履歴報告書: the item, its holders, every event with its hash, the head and the QR."""
from __future__ import annotations

import io
import hashlib
from datetime import date, datetime

import pytest
from pypdf import PdfReader

from lifecycle.documents import render
from lifecycle.documents.render import Checkpoint, CustodyEvent, CustodyReport, Holder, Imprint, render_custody_pdf

IMPRINT = Imprint("○○県総務部市町課", datetime(2026, 11, 22, 5, 5), "監査 花子",
                  Checkpoint(900, "ab" * 32, datetime(2026, 11, 21, 18, 0)))
HEAD = hashlib.sha256(b"head").hexdigest()


def event(seq: int) -> CustodyEvent:
    return CustodyEvent(seq, datetime(2026, 4, 1, 0, 0) if seq == 1 else datetime(2026, 5, 1, 3, seq % 60),
                        "保管開始" if seq == 1 else "引継ぎ受領", "佐藤 花子",
                        "市町課の金庫（第2書庫）に保管した。" * (1 + seq % 3),
                        hashlib.sha256(str(seq).encode()).hexdigest())


def report(n_events: int = 5, **kw) -> CustodyReport:
    values = dict(
        code="F-2026-000123", title="住民票の写し（広域交付）",
        fields=[("種別", "帳票"), ("利用事務", "旅券の発給に関する事務（住基法別表第5）"),
                ("所属", "旅券センター"), ("状態", "保管中"), ("保存期限", date(2031, 3, 31))],
        holders=[Holder("佐藤 花子", "市町課", datetime(2026, 4, 1), datetime(2026, 5, 1, 3, 0)),
                 Holder("鈴木 一郎", "旅券センター", datetime(2026, 5, 1, 3, 0))],
        events=[event(i) for i in range(1, n_events + 1)],
        head_seq=4321, head_hash=HEAD, qr_data="https://lifecycle.example.lg.jp/s/Q1W2E3",
        imprint=IMPRINT)
    values.update(kw)
    return CustodyReport(**values)


def text_of(pdf: bytes) -> list[str]:
    return [p.extract_text() for p in PdfReader(io.BytesIO(pdf)).pages]


def test_shows_the_item_and_its_holders():
    text = "".join(text_of(render_custody_pdf(report())))
    assert "保管履歴報告書" in text
    assert "F-2026-000123" in text and "旅券の発給に関する事務（住基法別表第5）" in text
    assert "令和13年3月31日" in text  # a date field is printed in 和暦
    assert "鈴木 一郎" in text and "（現在）" in text
    assert "令和8年5月1日 12時00分" in text  # holder change in JST


def test_every_event_with_its_full_hash_and_the_head():
    r = report(12)
    text = "".join(text_of(render_custody_pdf(r)))
    for e in r.events:
        assert e.hash[:16] in text
        assert e.hash in text  # printed whole, not cut
    assert "第4321号" in text and HEAD in text
    assert "令和8年4月1日 9時00分" in text


def test_long_event_lists_run_over_pages_with_numbers():
    r = report(90)
    texts = text_of(render_custody_pdf(r))
    assert len(texts) > 2
    for number, text in enumerate(texts, 1):
        assert f"{number} / {len(texts)} 頁" in text
    joined = "".join(texts)
    assert all(e.hash in joined for e in r.events)
    assert "内容" in texts[1]  # the events table header repeats


def test_no_events_or_holders_prints_nothing_found():
    text = "".join(text_of(render_custody_pdf(report(0, holders=[]))))
    assert text.count("該当なし") == 2


def test_qr_of_the_item_is_drawn_top_right(monkeypatch):
    calls = []
    monkeypatch.setattr(render, "_draw_qr", lambda c, data, x, y, size: calls.append((data, x, y, size)))
    render_custody_pdf(report())
    [(data, x, y, size)] = calls
    assert data == "https://lifecycle.example.lg.jp/s/Q1W2E3"
    width, height = render.A4
    assert x + size <= width and x > width / 2 and y > height * 0.75


def test_the_real_qr_module_draws():
    pytest.importorskip("lifecycle.labels.qr")
    assert render_custody_pdf(report()).startswith(b"%PDF")
