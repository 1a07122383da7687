"""register_item: what may be registered, by whom, and that a refusal leaves nothing behind."""
from __future__ import annotations

import threading
from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select

from lifecycle import states
from lifecycle.actors import SystemActor
from lifecycle.audit.events import EventType
from lifecycle.audit.models import AuditEvent
from lifecycle.audit.services import events_for
from lifecycle.clock import JST, to_jst, today_jst
from lifecycle.errors import (
    Conflict,
    DomainError,
    Forbidden,
    Invalid,
    InvalidTransition,
    NotFound,
)
from lifecycle.extensions import db
from lifecycle.items.models import Item
from lifecycle.items.services import (
    MEDIA_FORBIDDEN_MESSAGE,
    get_item,
    get_visible_item,
    register_item,
)
from lifecycle.policy.services import set_policy
from tests.factories import device, form, medium


def counts() -> tuple[int, int]:
    return (db.session.scalar(select(func.count()).select_from(Item)),
            db.session.scalar(select(func.count()).select_from(AuditEvent)))


def refused(exc_type, actor, data, *, code: str | None = None, text: str | None = None):
    """Asserts the refusal and that neither an item nor an audit event was left behind."""
    before = counts()
    with pytest.raises(exc_type) as info:
        register_item(actor, data)
    assert counts() == before
    if code:
        assert info.value.code == code
    if text:
        assert text in info.value.message, info.value.message
    return info.value


FORM = {"kind": "form", "title": "自動車税 課税台帳", "business": "car-tax", "sheets": 3,
        "contains_my_number": False, "location": "税務課 書庫A-3"}


def test_form_gets_a_code_a_holder_and_a_retention_deadline_from_policy(world):
    item = register_item(world["registrar"], FORM)
    assert item.code == f"F-{to_jst(item.created_at).year}-000001"
    assert item.status == "registered" and item.holder_login == "registrar"
    assert item.department_code == "zeimu"
    assert item.retention_until == today_jst() + timedelta(days=30)
    [event] = events_for(item.code)
    assert event.type == EventType.ITEM_REGISTERED.value and event.actor == "registrar"
    assert '"retention_until"' in event.data


def test_retention_follows_the_policy_and_the_output_date(world):
    set_policy(world["admin"], "form.retention_days", 10)
    output = datetime.now(JST).replace(microsecond=0) - timedelta(days=3)
    item = register_item(world["registrar"], {**FORM, "output_at": output.isoformat()})
    assert item.retention_until == output.date() + timedelta(days=10)


def test_codes_count_up_per_kind(world):
    codes = [form(world["registrar"]).code, form(world["bulk"]).code, medium(world["bulk"]).code,
             device(world["admin"]).code]
    year = today_jst().year
    assert codes == [f"F-{year}-000001", f"F-{year}-000002", f"M-{year}-000001", f"D-{year}-000001"]


@pytest.mark.parametrize("bad", ["USB", "usb", "USBメモリ", "SD", "SDカード", "HDD", "外付けSSD", "CD-RW",
                                 "OTHER", "Floppy"])
def test_media_other_than_optical_and_mo_are_forbidden(world, bad):
    exc = refused(Invalid, world["bulk"], {**MEDIUM, "media_type": bad}, code="media_type_forbidden",
                  text="USBメモリ等は使用が禁止されています")
    assert exc.status == 422 and exc.fields["media_type"] == MEDIA_FORBIDDEN_MESSAGE


MEDIUM = {"kind": "medium", "title": "旅券 一括提供", "business": "passport", "media_type": "CD-R",
          "record_count": 1200, "recipient": "教育委員会", "encrypted": True}


@pytest.fixture
def due():
    return (today_jst() + timedelta(days=14)).isoformat()


@pytest.mark.parametrize("accepted", ["CD-R", "DVD-R", "BD-R", "MO", "ｃｄ－ｒ", " dvd-r "])
def test_optical_and_mo_media_are_accepted(world, due, accepted):
    item = register_item(world["bulk"], {**MEDIUM, "media_type": accepted, "due_back": due})
    assert item.media_type in ("CD-R", "DVD-R", "BD-R", "MO") and item.kind == "medium"


@pytest.mark.parametrize("who", ["registrar", "security", "admin", "auditor", "security2"])
def test_only_bulk_operators_create_media(world, due, who):
    refused(Forbidden, world[who], {**MEDIUM, "due_back": due}, text="市町課の一括利用担当")


def test_forbidden_role_wins_over_forbidden_media(world, due):
    """Someone without the role learns that first, not which media exist."""
    refused(Forbidden, world["registrar"], {**MEDIUM, "media_type": "USB", "due_back": due})


@pytest.mark.parametrize("who", ["auditor", "security", "admin"])
def test_forms_need_the_registrar_role(world, who):
    refused(Forbidden, world[who], FORM)


@pytest.mark.parametrize("who", ["registrar", "security", "auditor"])
def test_devices_need_admin_or_bulk_operator(world, who):
    refused(Forbidden, world[who], DEVICE)


DEVICE = {"kind": "device", "title": "業務端末 1", "device_type": "業務端末", "asset_tag": "PC-0001",
          "model": "FMV-D7000", "serial": "SN0001", "lessor": "九州リース", "lease_contract": "L-1",
          "lease_start": "2021-04-01", "lease_end": "2027-03-31", "location": "市町課",
          "storage": [{"media_type": "HDD", "serial": "HDD-0001"}]}


@pytest.mark.parametrize("field,value,text", [
    ("title", "", "件名を入力してください"),
    ("title", None, "件名を入力してください"),
    ("title", "   ", "件名を入力してください"),
    ("title", "あ" * 201, "200文字以内"),
    ("title", "改行\x00入り", "制御文字"),
    ("title", "タブ\tあり", "制御文字"),
    ("title", 12, "文字列"),
    ("business", "no-such", "利用事務「no-such」は登録されていません"),
    ("business", "", "利用事務を入力してください"),
    ("sheets", 0, "枚数は1から10000"),
    ("sheets", -3, "枚数は1から10000"),
    ("sheets", 10001, "枚数は1から10000"),
    ("sheets", "三", "整数"),
    ("sheets", 2.5, "整数"),
    ("sheets", True, "整数"),
    ("sheets", None, "整数"),
    ("location", "x" * 201, "保管場所は200文字以内"),
    ("contains_my_number", "maybe", "はい」か「いいえ"),
    ("output_at", "yesterday", "2026-12-04 10:30"),
    ("output_at", "2999-01-01T00:00:00+09:00", "未来"),
])
def test_bad_form_fields_are_refused_in_japanese(world, field, value, text):
    exc = refused(Invalid, world["registrar"], {**FORM, field: value}, text=text)
    assert exc.status == 422


def test_absurd_output_dates_do_not_crash(world):
    for value in ("0001-01-01T00:00:00+14:00", "0001-01-01T00:00:00", "1800-01-01"):
        refused(Invalid, world["registrar"], {**FORM, "output_at": value})


@pytest.mark.parametrize("delta,text", [(-1, "過去の日付"), (91, "90日以内")])
def test_due_back_must_be_today_or_later_and_within_policy(world, delta, text):
    due = (today_jst() + timedelta(days=delta)).isoformat()
    refused(Invalid, world["bulk"], {**MEDIUM, "due_back": due}, text=text)


def test_due_back_today_is_accepted(world):
    item = register_item(world["bulk"], {**MEDIUM, "due_back": today_jst().isoformat()})
    assert item.due_back == today_jst()


@pytest.mark.parametrize("field,value,text", [
    ("record_count", 0, "件数"), ("recipient", "", "提供先を入力してください"),
    ("due_back", "2026-13-01", "正しい日付"), ("due_back", None, "返却予定日を入力してください"),
    ("business", "ghost", "登録されていません"), ("encrypted", "perhaps", "暗号化"),
])
def test_bad_medium_fields_are_refused(world, due, field, value, text):
    refused(Invalid, world["bulk"], {**MEDIUM, "due_back": due, field: value}, text=text)


@pytest.mark.parametrize("start,end", [("2027-03-31", "2021-04-01"), ("2021-04-01", "2021-04-01")])
def test_lease_must_end_after_it_starts(world, start, end):
    refused(Invalid, world["admin"], {**DEVICE, "lease_start": start, "lease_end": end},
            text="リース終了日はリース開始日より後")


@pytest.mark.parametrize("field,value,text", [
    ("device_type", "USBメモリ", "機器種別は次から選んでください"), ("asset_tag", "", "資産番号を入力"),
    ("serial", "", "製造番号を入力"), ("lease_start", "", "リース開始日を入力"),
    ("location", "", "保管場所を入力"), ("model", "m" * 101, "100文字以内"),
    ("lease_start", "1900-01-01", "リース開始日"), ("lease_end", "2100-01-01", "リース期間"),
])
def test_bad_device_fields_are_refused(world, field, value, text):
    refused(Invalid, world["admin"], {**DEVICE, field: value}, text=text)


@pytest.mark.parametrize("field,value", [("serial", "SN0001"), ("asset_tag", "PC-0001"),
                                         ("serial", "ＳＮ０００１"), ("serial", "sn0001"),
                                         ("asset_tag", " pc-0001 ")])
def test_asset_tag_and_serial_are_unique(world, field, value):
    register_item(world["admin"], DEVICE)
    other = {**DEVICE, "asset_tag": "PC-0002", "serial": "SN0002", field: value}
    exc = refused(Conflict, world["bulk"], other, code=f"duplicate_{field}", text="既に登録されています")
    assert exc.status == 409


def test_device_identifiers_are_stored_normalised(world):
    item = register_item(world["admin"], {**DEVICE, "asset_tag": "ｐｃ－０００９", "serial": "ＳＮ９"})
    assert (item.asset_tag, item.serial) == ("PC-0009", "SN9")


@pytest.mark.parametrize("data", [None, [], "form", {"kind": "my_number_copy", "title": "x"},
                                  {"kind": "transfer"}, {"kind": ["form"]}, {}])
def test_malformed_requests_are_refused(world, data):
    refused(DomainError, world["registrar"], data)


def test_system_actor_registers_for_a_named_holder(world):
    item = register_item(SystemActor("system:import", "取込み"), FORM, holder_login="registrar2")
    assert item.holder_login == "registrar2" and item.department_code == "ryoken"
    assert item.created_by == "system:import"
    refused(NotFound, SystemActor("system:import", "取込み"), FORM)


def test_registrars_see_their_department_only(world):
    item = form(world["registrar"])
    assert get_visible_item(world["registrar"], item.code.lower()).code == item.code
    for who in ("auditor", "admin", "security2", "bulk"):
        assert get_visible_item(world[who], item.code).code == item.code
    with pytest.raises(Forbidden) as info:
        get_visible_item(world["registrar2"], item.code)
    assert "他の所属" in info.value.message
    with pytest.raises(NotFound):
        get_item("F-1999-999999")


def test_an_illegal_transition_is_a_409_naming_the_current_state(world):
    item = get_item(form(world["registrar"]).code)
    with pytest.raises(InvalidTransition) as info:
        states.transition(item, states.State.DESTROYED, actor=world["registrar"],
                          event=EventType.ITEM_DESTROYED)
    assert info.value.status == 409 and "登録済" in info.value.message and "廃棄" in info.value.message
    db.session.rollback()
    assert get_item(item.code).status == "registered"


def test_codes_are_unique_under_concurrent_registration(app, world):
    """Eight threads, each its own session and connection: the serialised write (BEGIN IMMEDIATE /
    advisory lock) makes the counter hand out each number once."""
    logins = ["registrar", "registrar2", "bulk"]
    errors: list[BaseException] = []
    codes: list[str] = []
    lock = threading.Lock()

    def work(n: int) -> None:
        try:
            with app.app_context():
                from lifecycle.auth.services import get_user
                user = get_user(logins[n % len(logins)])
                for _ in range(4):
                    item = register_item(user, FORM)
                    with lock:
                        codes.append(item.code)
                db.session.remove()
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    db.session.rollback()  # leave this thread's read snapshot from before the threads wrote
    year = today_jst().year
    assert sorted(codes) == [f"F-{year}-{n:06d}" for n in range(1, 33)]
    assert db.session.scalar(select(func.count()).select_from(Item)) == 32


def test_an_item_reads_the_same_whoever_may_see_it_and_has_every_kind_field(app, world):
    """The API shows an item as its ledger row wherever it comes from (registration, the item,
    the listing); a column missing from the row would show as None here."""
    from lifecycle.items import queries
    from lifecycle.items.schemas import item_json
    from lifecycle.items.services import get_visible_row

    items = [form(world["registrar"], terminal="T-01", output_at="2026-11-20T09:30:00+09:00"),
             medium(world["bulk"]), device(world["bulk"], holds_my_number_data=True)]
    for item in items:
        with app.test_request_context():
            registered = item_json(item)
            row = get_visible_row(world["auditor"], item.code.lower())
            assert item_json(row) == registered
            assert queries.row_overdue(row, today_jst()) == queries.row_overdue(item, today_jst())
            assert set(registered) >= {"code", "holder", "title"} and None not in (row.holder_login, row.department_code)
    for kind_field, item in zip(("terminal", "recipient", "holds_my_number_data"), items):
        with app.test_request_context():
            assert item_json(get_visible_row(world["bulk"], item.code))[kind_field] not in (None, "")


def test_refused_input_is_answered_without_waiting_for_other_writers(app, world):
    """Input is checked before the write lock is taken: a registration with a mistake is refused
    at once even while another writer holds the lock, and a valid one waits for it."""
    from tests.conftest import BACKEND
    if BACKEND != "sqlite":
        pytest.skip("the lock file is SQLite's; PostgreSQL's advisory lock is checked by the concurrency tests")
    import fcntl
    import os

    items, events = counts()
    db.session.rollback()
    holder = os.open(db.engine.url.database + "-writer.lock", os.O_RDWR | os.O_CREAT)
    fcntl.flock(holder, fcntl.LOCK_EX)  # another writer in the middle of its transaction
    try:
        with pytest.raises(Invalid, match="件名"):
            register_item(world["registrar"], {"kind": "form", "title": "", "business": "car-tax", "sheets": 1})
        with pytest.raises(Invalid, match="利用事務"):
            register_item(world["registrar"], {"kind": "form", "title": "帳票", "business": "nothing", "sheets": 1})
        done = threading.Event()

        def valid():
            with app.app_context():
                register_item(SystemActor("system:test", "テスト"), {"kind": "form", "title": "待つ帳票", "business": "car-tax",
                                              "sheets": 1}, holder_login="registrar")
                db.session.remove()
            done.set()

        writer = threading.Thread(target=valid)
        writer.start()
        assert not done.wait(0.5)
    finally:
        fcntl.flock(holder, fcntl.LOCK_UN)
        os.close(holder)
    assert done.wait(10)
    writer.join()
    db.session.rollback()
    assert counts() == (items + 1, events + 1)
