"""The online verification against the signed checkpoints (issue 26): a rewrite that recomputes
every later hash, a deleted tail with the head moved back, forged checkpoints, checkpoint rows
deleted from the database, and a missing head row."""
import json
import threading

import pytest
from sqlalchemy import select, text, update

from lifecycle.audit.checkpoints import checkpoint_log, sign_checkpoint, verify_log
from lifecycle.audit.events import EventType
from lifecycle.audit.models import AuditEvent, AuditHead
from lifecycle.audit.services import GENESIS, chain_hash, record_event, verify_chain
from lifecycle.cli import ACTOR
from lifecycle.errors import AuditLogFault, Invalid
from lifecycle.extensions import db


def _append(n: int) -> None:
    for i in range(n):
        with db.transaction():
            record_event(EventType.ITEM_UPDATED, actor=ACTOR, subject=f"F-2026-{i:06d}", note=f"変更{i}")


def _sql(statement: str, **params) -> None:
    with db.engine.begin() as conn:
        conn.execute(text(statement), params)


def _hash_at(seq: int) -> str:
    return db.session.scalar(select(AuditEvent.hash).where(AuditEvent.seq == seq))


def _rewrite(seq: int, data: str) -> None:
    """What someone with write access to the database does: alters one event and recomputes
    every hash after it, and the head, so that the chain alone still holds."""
    with db.engine.begin() as conn:
        conn.execute(update(AuditEvent).where(AuditEvent.seq == seq).values(data=data))
        events = conn.execute(select(AuditEvent).order_by(AuditEvent.seq)).all()
        prev = GENESIS
        for event in events:
            digest = chain_hash(prev, event.seq, event.at, event.type, event.actor, event.subject, event.data)
            if digest != event.hash:
                conn.execute(update(AuditEvent).where(AuditEvent.seq == event.seq).values(hash=digest))
            prev = digest
        conn.execute(update(AuditHead).values(hash=prev))
    db.session.rollback()


def _cut_tail(keep: int) -> None:
    """Deletes every event after `keep`, and the Merkle tree's nodes over them, and moves the
    head back to it: a thorough cover-up, which only the checkpoints can catch."""
    digest = _hash_at(keep)
    _sql("DELETE FROM audit_events WHERE seq > :keep", keep=keep)
    with db.engine.begin() as conn:
        nodes = conn.execute(text("SELECT level, idx FROM audit_tree_nodes")).all()
        for level, idx in nodes:
            if (idx + 1) << level > keep:
                conn.execute(text("DELETE FROM audit_tree_nodes WHERE level = :l AND idx = :i"), {"l": level, "i": idx})
    _sql("UPDATE audit_head SET seq = :keep, hash = :digest", keep=keep, digest=digest)
    db.session.rollback()


def _verified_events() -> list[dict]:
    rows = db.session.scalars(select(AuditEvent.data).where(AuditEvent.type == EventType.AUDIT_VERIFIED.value))
    return [json.loads(data) for data in rows]


def test_untouched_chain_verifies_through_its_checkpoints(app):
    _append(3)
    sign_checkpoint(ACTOR)
    _append(2)
    sign_checkpoint(ACTOR)
    result = verify_log(ACTOR)
    assert result.ok and result.events == 7
    assert _verified_events()[-1] == {"ok": True, "events": 7, "broken_at": None, "checkpoints": 2}


def test_deleted_tail_with_the_head_moved_back_is_broken(app):
    _append(5)
    sign_checkpoint(ACTOR)  # signs 5 events; its own event is the 6th
    _append(3)
    _cut_tail(3)
    assert verify_chain().ok  # the chain alone cannot tell
    result = verify_log(ACTOR)
    assert not result.ok and result.broken_at == 4 and result.events == 3
    assert "確認点 第1号" in result.reason and "第 5 番" in result.reason and "削除" in result.reason


def test_deleted_tail_down_to_the_signed_head_is_broken(app):
    _append(5)
    sign_checkpoint(ACTOR)
    _append(2)
    _cut_tail(5)  # the checkpoint's own event goes too
    result = verify_log(ACTOR)
    assert not result.ok and result.broken_at == 6 and "署名自体の記録" in result.reason


def test_rewritten_payload_with_recomputed_hashes_is_broken_at_the_checkpoint(app):
    _append(2)
    sign_checkpoint(ACTOR)  # signs 2; event 3
    _append(3)  # 4..6
    sign_checkpoint(ACTOR)  # signs 6; event 7
    _append(1)
    _rewrite(5, '{"note":"改ざん"}')
    assert verify_chain().ok  # the chain alone cannot tell
    result = verify_log(ACTOR)
    assert not result.ok and result.broken_at == 6 and result.events == 5
    assert "確認点 第2号" in result.reason and "第 3〜6 番" in result.reason


def test_rewrite_before_every_checkpoint_names_the_first_one(app):
    _append(4)
    sign_checkpoint(ACTOR)
    _append(2)
    sign_checkpoint(ACTOR)
    _rewrite(1, '{"note":"改ざん"}')
    result = verify_log(ACTOR)
    assert not result.ok and result.broken_at == 4 and "第 1〜4 番" in result.reason


def test_forged_checkpoint_signature_is_broken(app):
    _append(3)
    checkpoint = sign_checkpoint(ACTOR)
    forged = ("0" if checkpoint.signature[0] != "0" else "1") + checkpoint.signature[1:]
    _sql("UPDATE audit_checkpoints SET signature = :s", s=forged)
    result = verify_log(ACTOR)
    assert not result.ok and result.broken_at == 3 and "署名が正しくありません" in result.reason


def test_checkpoint_moved_to_another_head_is_broken(app):
    _append(4)
    sign_checkpoint(ACTOR)
    _sql("UPDATE audit_checkpoints SET seq = 2, head_hash = :h", h=_hash_at(2))
    result = verify_log(ACTOR)
    assert not result.ok and result.broken_at == 2 and "署名が正しくありません" in result.reason


def test_head_behind_the_last_checkpoint_is_named(app):
    _append(3)
    sign_checkpoint(ACTOR)  # signs 3; event 4
    _append(2)
    _sql("UPDATE audit_head SET seq = 2, hash = :h", h=_hash_at(2))
    result = verify_log(ACTOR)
    assert not result.ok and result.broken_at == 3 and "末尾が戻された" in result.reason
    with pytest.raises(AuditLogFault, match="末尾の記録が最後の記録を指していません"):
        _append(1)


def test_every_checkpoint_is_appended_to_the_checkpoint_log(app):
    _append(2)
    first = sign_checkpoint(ACTOR)
    _append(1)
    second = sign_checkpoint(ACTOR)
    lines = [json.loads(line) for line in checkpoint_log().read_text().splitlines()]
    assert [(c["id"], c["seq"], c["head"], c["signature"]) for c in lines] == [
        (first.id, 2, first.head_hash, first.signature), (second.id, 4, second.head_hash, second.signature)]
    assert set(lines[0]) == {"id", "seq", "head", "created_at", "tree_size", "root", "key_id", "signature"}


def test_checkpoint_log_follows_the_configuration(app, tmp_path):
    app.config["CHECKPOINT_LOG"] = str(tmp_path / "elsewhere" / "cp.jsonl")
    _append(1)
    sign_checkpoint(ACTOR)
    assert len((tmp_path / "elsewhere" / "cp.jsonl").read_text().splitlines()) == 1


def test_deleted_checkpoint_rows_are_caught_by_the_file(app, runner):
    _append(4)
    sign_checkpoint(ACTOR)
    _append(2)
    _rewrite(2, '{"note":"改ざん"}')
    _sql("DELETE FROM audit_checkpoints")
    assert verify_log(ACTOR).ok  # the database alone cannot tell any more
    result = verify_log(ACTOR, checkpoint_file=checkpoint_log())
    assert not result.ok and result.broken_at == 4 and "確認点ファイル 1 行目" in result.reason
    blind = runner.invoke(args=["audit", "verify"])
    assert blind.exit_code == 0 and blind.output.startswith("ok ")
    caught = runner.invoke(args=["audit", "verify", "--checkpoints", str(checkpoint_log())])
    assert caught.exit_code == 1 and caught.output.startswith("broken at event 4: ")


def test_deleted_tail_and_checkpoint_rows_are_caught_by_the_file(app, runner):
    _append(5)
    sign_checkpoint(ACTOR)
    _append(3)
    _cut_tail(3)
    _sql("DELETE FROM audit_checkpoints")
    result = runner.invoke(args=["audit", "verify", "--checkpoints", str(checkpoint_log())])
    assert result.exit_code == 1 and result.output.startswith("broken at event 4: ")


def test_forged_line_in_the_file_is_broken(app, tmp_path):
    _append(3)
    sign_checkpoint(ACTOR)
    line = json.loads(checkpoint_log().read_text())
    line["seq"], line["head"] = 2, _hash_at(2)
    copy = tmp_path / "copy.jsonl"
    copy.write_text(json.dumps(line) + "\n")
    result = verify_log(ACTOR, checkpoint_file=copy)
    assert not result.ok and result.broken_at == 2 and "署名が正しくありません" in result.reason


def test_checkpoint_file_with_a_torn_last_line_verifies_the_rest(app, tmp_path):
    _append(3)
    sign_checkpoint(ACTOR)
    copy = tmp_path / "copy.jsonl"
    copy.write_text(checkpoint_log().read_text() + '{"id": 2, "seq"')
    assert verify_log(ACTOR, checkpoint_file=copy).ok


def test_unreadable_checkpoint_file_is_refused(app, tmp_path, runner):
    _append(1)
    copy = tmp_path / "copy.jsonl"
    copy.write_text("not json\n")
    with pytest.raises(Invalid, match="1 行目"):
        verify_log(ACTOR, checkpoint_file=copy)
    result = runner.invoke(args=["audit", "verify", "--checkpoints", str(copy)])
    assert result.exit_code == 1 and "1 行目を読み取れません" in result.output


def test_checkpoint_that_cannot_leave_the_database_is_named(app, tmp_path):
    app.config["CHECKPOINT_LOG"] = str(tmp_path)  # a folder: the append fails
    _append(1)
    with pytest.raises(AuditLogFault, match="確認点 第1号はデータベースに記録しましたが"):
        sign_checkpoint(ACTOR)
    assert verify_log(ACTOR).ok  # the checkpoint itself was committed


def test_missing_head_row_is_named_and_refuses_writes(app, runner):
    _append(3)
    _sql("DELETE FROM audit_head")
    result = verify_log(ACTOR)
    assert not result.ok and result.broken_at == 4 and "audit_head" in result.reason
    with pytest.raises(AuditLogFault, match="監査ログの末尾の記録が見つかりません"):
        _append(1)
    cli = runner.invoke(args=["audit", "verify"])
    assert cli.exit_code == 1 and cli.output.startswith("broken at event 4: ")
    assert db.session.scalar(select(AuditEvent.seq).order_by(AuditEvent.seq.desc()).limit(1)) == 3


def test_first_event_of_an_empty_database_starts_the_chain(app):
    assert verify_log(ACTOR).ok  # no events and no head: nothing to find wrong
    assert db.session.scalar(select(AuditHead.seq)) == 1  # the verification was the first event
    assert verify_chain().ok


def test_api_and_page_verify_through_the_checkpoints(api, client, login):
    auditor = api("auditor")
    login("auditor")
    checkpoint_seq = sign_checkpoint(ACTOR).seq
    _append(2)
    _cut_tail(checkpoint_seq - 1)
    body = auditor.get("/api/v1/audit/verify").get_json()
    assert body["ok"] is False and body["broken_at"] == checkpoint_seq and "確認点 第1号" in body["reason"]
    page = client.post("/audit/verify").get_data(as_text=True)
    assert "不整合を検出しました" in page and "確認点 第1号" in page
    assert [e["checkpoints"] for e in _verified_events()] == [1, 1]


def test_verification_during_appends_sees_one_moment(app):
    """The head row and the events are read in one snapshot: appends meanwhile are not a broken tail."""
    _append(3)
    sign_checkpoint(ACTOR)
    stop, errors = threading.Event(), []

    def writer():
        try:
            with app.app_context():
                while not stop.is_set():
                    _append(1)
                db.session.remove()
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer) for _ in range(2)]
    for thread in threads:
        thread.start()
    try:
        results = [verify_chain() for _ in range(15)]
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    assert not errors
    assert all(r.ok for r in results), [r.reason for r in results if not r.ok]
