import threading

import pytest
from sqlalchemy import text

from lifecycle.audit.events import EventType
from lifecycle.audit.services import record_event, verify_chain
from lifecycle.extensions import db
from lifecycle.actors import SystemActor


def _append(n: int, actor: SystemActor = SystemActor("system:test", "テスト")) -> None:
    for i in range(n):
        with db.transaction():
            record_event(EventType.ITEM_UPDATED, actor=actor, subject=f"F-2026-{i:06d}", note=f"変更{i}")


def test_an_untouched_chain_verifies(app):
    _append(5)
    result = verify_chain()
    assert result.ok and result.events == 5 and len(result.head) == 64


def test_empty_chain_verifies(app):
    assert verify_chain().ok


def test_events_are_written_only_inside_a_transaction(app):
    with pytest.raises(RuntimeError):
        record_event(EventType.ITEM_UPDATED, actor=SystemActor("system:x", "テスト"))


def test_secret_fields_are_refused(app):
    with pytest.raises(ValueError), db.transaction():
        record_event(EventType.MY_NUMBER_RETAINED, actor=SystemActor("system:x", "テスト"), my_number="123456789018")
    assert verify_chain().events == 0


def test_event_rolls_back_with_its_transaction(app):
    with pytest.raises(ZeroDivisionError), db.transaction():
        record_event(EventType.ITEM_UPDATED, actor=SystemActor("system:x", "テスト"))
        1 / 0
    assert verify_chain().events == 0


def test_altered_payload_is_named(app):
    _append(5)
    with db.engine.begin() as conn:
        conn.execute(text("UPDATE audit_events SET data = '{\"note\":\"改ざん\"}' WHERE seq = 3"))
    result = verify_chain()
    assert not result.ok and result.broken_at == 3 and "ハッシュ" in result.reason


def test_altered_actor_column_is_named(app):
    _append(4)
    with db.engine.begin() as conn:
        conn.execute(text("UPDATE audit_events SET actor = 'someone' WHERE seq = 2"))
    assert verify_chain().broken_at == 2


def test_deleted_row_is_named(app):
    _append(5)
    with db.engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_events WHERE seq = 4"))
    result = verify_chain()
    assert not result.ok and result.broken_at == 4 and "連番" in result.reason


def test_deleted_tail_is_detected_through_the_head(app):
    _append(5)
    with db.engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_events WHERE seq = 5"))
    result = verify_chain()
    assert not result.ok and result.broken_at == 5


def test_swapped_pair_is_named(app):
    _append(5)
    with db.engine.begin() as conn:
        conn.execute(text("UPDATE audit_events SET seq = -1 WHERE seq = 2"))
        conn.execute(text("UPDATE audit_events SET seq = 2 WHERE seq = 3"))
        conn.execute(text("UPDATE audit_events SET seq = 3 WHERE seq = -1"))
    result = verify_chain()
    assert not result.ok and result.broken_at == 2


def test_concurrent_appends_keep_one_chain(app):
    """Eight threads, each with its own session, append at once; the chain must not fork."""
    errors = []

    def worker(n):
        try:
            with app.app_context():
                _append(15, actor=SystemActor(f"system:user{n}", "テスト"))
                db.session.remove()
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    result = verify_chain()
    assert result.ok and result.events == 120
