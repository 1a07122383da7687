"""The ledger query: filters, the sort whitelist, pages and counts, visibility, overdue."""
from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import update
from werkzeug.datastructures import MultiDict

from lifecycle.actors import SystemActor
from lifecycle.clock import JST, today_jst
from lifecycle.errors import Invalid
from lifecycle.extensions import db
from lifecycle.items import queries
from lifecycle.items.models import Item
from lifecycle.items.queries import LedgerFilters, parse_filters
from lifecycle.states import Kind
from tests.factories import device, form, medium


def codes(filters: LedgerFilters, user, **kw) -> list[str]:
    return [row.code for row in queries.ledger_page(filters, user, **kw).rows]


def old_form(actor, days: int, **kw):
    output = datetime.now(JST).replace(microsecond=0) - timedelta(days=days)
    return form(actor, output_at=output.isoformat(), **kw)


@pytest.fixture
def ledger(world):
    """Forms of 税務課 (registrar) and 旅券センター (registrar2), a medium and a device."""
    return {
        "tax1": form(world["registrar"], title="自動車税 課税台帳", location="書庫A"),
        "tax2": form(world["registrar"], title="督促状 控え", business="sme-loan", location="金庫"),
        "passport": form(world["registrar2"], title="旅券 発給台帳", business="passport"),
        "medium": medium(world["bulk"]),
        "device": device(world["admin"], serial="SN-XYZ-1", asset_tag="PC-77"),
    }


def test_kind_separates_the_ledgers_newest_first(world, ledger):
    auditor = world["auditor"]
    assert codes(LedgerFilters(kind=Kind.FORM), auditor) == [
        ledger["passport"].code, ledger["tax2"].code, ledger["tax1"].code]
    assert codes(LedgerFilters(kind=Kind.MEDIUM), auditor) == [ledger["medium"].code]
    assert codes(LedgerFilters(kind=Kind.DEVICE), auditor) == [ledger["device"].code]


def test_registrars_see_their_department_auditors_and_admins_see_all(world, ledger):
    flt = LedgerFilters(kind=Kind.FORM)
    assert set(codes(flt, world["registrar"])) == {ledger["tax1"].code, ledger["tax2"].code}
    assert codes(flt, world["registrar2"]) == [ledger["passport"].code]
    assert len(codes(flt, world["auditor"])) == len(codes(flt, world["admin"])) == 3
    # asking for another department's ledger shows nothing rather than leaking it
    assert codes(LedgerFilters(kind=Kind.FORM, department="ryoken"), world["registrar"]) == []


def test_a_registrar_who_moved_still_sees_what_he_holds(world, ledger):
    db.session.execute(update(Item).where(Item.code == ledger["passport"].code)
                       .values(holder_id=world["registrar"].id))
    db.session.commit()
    visible = codes(LedgerFilters(kind=Kind.FORM), world["registrar"])
    assert ledger["passport"].code in visible and len(visible) == 3
    assert queries.ledger_count(LedgerFilters(kind=Kind.FORM), world["registrar"]) == 3


@pytest.mark.parametrize("args,expected", [
    ({"status": "registered"}, {"tax1", "tax2", "passport"}),
    ({"status": "destroyed"}, set()),
    ({"department": "zeimu"}, {"tax1", "tax2"}),
    ({"business": "passport"}, {"passport"}),
    ({"q": "課税"}, {"tax1"}),
    ({"q": "金庫"}, {"tax2"}),  # location
    ({"q": "台帳"}, {"tax1", "passport"}),
    ({"q": "100%"}, set()),  # LIKE wildcards are literal
    ({"q": "_"}, set()),
    ({"holder": "registrar2"}, {"passport"}),
])
def test_filters(world, ledger, args, expected):
    flt = parse_filters(MultiDict({"kind": "form", **args}))
    assert set(codes(flt, world["auditor"])) == {ledger[k].code for k in expected}


def test_text_finds_codes_whole_partial_lowercase_and_full_width(world, ledger):
    auditor, code = world["auditor"], ledger["tax2"].code
    for typed in (code, code.lower(), code[-6:], code[2:], "".join(chr(ord(c) + 0xFEE0) for c in code)):
        assert codes(parse_filters({"kind": "form", "q": typed}), auditor) == [code], typed


def test_text_finds_devices_by_serial_and_asset_tag(world, ledger):
    for typed in ("SN-XYZ", "pc-77"):
        assert codes(parse_filters({"kind": "device", "q": typed}), world["auditor"]) == [ledger["device"].code]


def test_period_is_by_registration_day_in_japan(world, ledger):
    today = today_jst().isoformat()
    assert len(codes(parse_filters({"kind": "form", "from": today, "to": today}), world["auditor"])) == 3
    yesterday = (today_jst() - timedelta(days=1)).isoformat()
    assert codes(parse_filters({"kind": "form", "to": yesterday}), world["auditor"]) == []


def test_overdue_is_past_retention_or_past_due_back(world):
    late = old_form(world["registrar"], 40)  # retention 30 days after output
    fresh = old_form(world["registrar"], 5)
    flt = parse_filters({"kind": "form", "overdue": "true"})
    assert codes(flt, world["auditor"]) == [late.code]
    in_a_month = (today_jst() + timedelta(days=30)).isoformat()
    assert set(codes(parse_filters({"kind": "form", "overdue": "1", "as_of": in_a_month}), world["auditor"])) \
        == {late.code, fresh.code}
    row = queries.ledger_page(flt, world["auditor"]).rows[0]
    assert queries.row_overdue(row, today_jst()) and queries.row_overdue(late, today_jst())


def test_overdue_ignores_items_on_their_way_to_destruction(world):
    late = old_form(world["registrar"], 40)
    db.session.execute(update(Item).where(Item.id == late.id).values(status="awaiting_destruction"))
    db.session.commit()
    assert codes(parse_filters({"kind": "form", "overdue": "true"}), world["auditor"]) == []


def test_provided_media_are_overdue_after_due_back(world):
    from lifecycle.custody.services import provide_medium

    item = medium(world["bulk"], due_back=(today_jst() + timedelta(days=3)).isoformat())
    provide_medium(world["bulk"], item.code)
    assert codes(parse_filters({"kind": "medium", "overdue": "true"}), world["auditor"]) == []
    later = (today_jst() + timedelta(days=4)).isoformat()
    assert codes(parse_filters({"kind": "medium", "overdue": "true", "as_of": later}), world["auditor"]) == [item.code]
    on_the_day = (today_jst() + timedelta(days=3)).isoformat()
    assert codes(parse_filters({"kind": "medium", "overdue": "true", "as_of": on_the_day}), world["auditor"]) == []


@pytest.mark.parametrize("sort", sorted(queries.SORTS) + ["-" + s for s in sorted(queries.SORTS)])
def test_every_sort_key_works_and_pages_do_not_overlap(world, sort):
    for n in range(7):
        form(world["registrar"], title=f"帳票 {n % 3}")
    flt = parse_filters({"kind": "form", "sort": sort})
    pages = [codes(flt, world["auditor"], page=p, per_page=3) for p in (1, 2, 3)]
    seen = [c for page in pages for c in page]
    assert len(seen) == len(set(seen)) == 7
    assert [len(p) for p in pages] == [3, 3, 1]
    # the page query and the streaming query agree on the order
    assert seen == [row.code for row in queries.iter_ledger(flt, world["auditor"], batch=2)]


def test_deadline_sort_uses_each_kinds_deadline(world):
    late, fresh = old_form(world["registrar"], 20), old_form(world["registrar"], 2)
    assert codes(parse_filters({"kind": "form", "sort": "deadline"}), world["auditor"]) == [late.code, fresh.code]
    assert codes(parse_filters({"kind": "form", "sort": "-deadline"}), world["auditor"]) == [fresh.code, late.code]


def test_a_page_past_the_end_shows_the_last_page(world):
    for _ in range(5):
        form(world["registrar"])
    page = queries.ledger_page(LedgerFilters(kind=Kind.FORM), world["auditor"], page=99, per_page=2)
    assert page.page == 3 and page.pages == 3 and len(page.rows) == 1 and page.total == 5


def test_text_search_counts_are_capped(world):
    for _ in range(6):
        form(world["registrar"], title="同じ件名")
    flt = parse_filters({"kind": "form", "q": "同じ"})
    capped = queries.ledger_page(flt, world["auditor"], per_page=2, cap=4)
    assert capped.capped and capped.total == 4 and len(capped.rows) == 2
    exact = queries.ledger_page(flt, world["auditor"], per_page=2)
    assert not exact.capped and exact.total == 6
    few = queries.ledger_page(flt, world["auditor"], per_page=10, cap=4)
    assert few.total == 6 and not few.capped  # a first page that is not full is the whole result


@pytest.mark.parametrize("args,text", [
    ({"kind": "my_number_copy"}, "種別"),
    ({"kind": "form", "status": "provided"}, "状態"),  # a medium's state, not a form's
    ({"kind": "form", "status": "nonsense"}, "状態"),
    ({"kind": "form", "sort": "password"}, "並べ替え"),
    ({"kind": "form", "sort": "-id; drop table items"}, "並べ替え"),
    ({"kind": "form", "from": "2026-02-30"}, "期間（開始）"),
    ({"kind": "form", "from": "2026-05-01", "to": "2026-04-01"}, "終了日は開始日以降"),
    ({"kind": "form", "q": "x" * 101}, "100文字以内"),
    ({"kind": "form", "q": "a\x00b"}, "制御文字"),
    ({"kind": "form", "overdue": "maybe"}, "期限超過"),
    ({"kind": "form", "as_of": "tomorrow"}, "基準日"),
])
def test_bad_filters_are_refused_in_japanese(world, args, text):
    with pytest.raises(Invalid) as info:
        parse_filters(args)
    assert text in info.value.message and info.value.status == 422


def test_filters_round_trip_through_the_query_string(world):
    args = {"kind": "medium", "status": "provided", "department": "shicho", "business": "passport",
            "from": "2026-04-01", "to": "2026-04-30", "q": "教育", "overdue": "true",
            "as_of": "2026-05-31", "sort": "-deadline", "holder": "bulk"}
    assert parse_filters(parse_filters(args).as_args()) == parse_filters(args)


def test_my_items_counts_per_kind_and_status(world):
    form(world["bulk"])
    form(world["bulk"])
    old_form(world["bulk"], 40)
    medium(world["bulk"])
    form(world["registrar"])
    assert queries.holder_status_counts(world["bulk"]) == {("form", "registered"): 3,
                                                           ("medium", "registered"): 1}
    assert queries.holder_overdue_counts(world["bulk"]) == {"form": 1}


def test_an_item_comes_with_its_own_events_in_order_and_nothing_of_another(world):
    from lifecycle.audit.events import EventType
    from lifecycle.audit.models import AuditEvent
    from lifecycle.audit.services import events_for, record_event

    first, second = form(world["registrar"]), form(world["registrar"])
    with db.transaction():
        for subject in (first.code, second.code, first.code, first.code):
            record_event(EventType.LABEL_PRINTED, actor=SystemActor("system:test", "テスト"), subject=subject, layout="a4-12")
    row, events = queries.item_with_events(first.code)
    assert row.code == first.code and row.title == first.title
    assert events == events_for(first.code)
    assert [e.seq for e in events] == sorted(e.seq for e in events) and len(events) == 4
    assert {e.subject for e in events} == {first.code}
    assert queries.item_with_events("F-2026-999999") is None
    with db.transaction():  # an item with no events at all (say, loaded in bulk) still shows
        db.session.execute(AuditEvent.__table__.delete().where(AuditEvent.subject == second.code))
    row, events = queries.item_with_events(second.code)
    assert row.code == second.code and events == []


