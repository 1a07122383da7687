"""`lifecycle audit verify --from-checkpoint ID`: the checkpoint's signature, head and Merkle root,
then only the events after it and the tree nodes over them."""
import json

from sqlalchemy import select, text

from lifecycle.actors import SystemActor
from lifecycle.audit.checkpoints import sign_checkpoint, verify_from_checkpoint
from lifecycle.audit.events import EventType
from lifecycle.audit.merkle import rebuild_tree
from lifecycle.audit.models import AuditEvent
from lifecycle.audit.services import head, record_event
from lifecycle.extensions import db

ACTOR = SystemActor("system:test", "テスト")


def _append(n: int) -> None:
    for i in range(n):
        with db.transaction():
            record_event(EventType.ITEM_UPDATED, actor=ACTOR, subject=f"F-2026-{i:06d}", note=f"変更{i}")


def _sql(statement: str, **params) -> None:
    with db.engine.begin() as conn:
        conn.execute(text(statement), params)
    db.session.rollback()


def test_only_the_events_after_the_checkpoint_are_walked(app, runner):
    _append(5)
    checkpoint = sign_checkpoint(ACTOR)
    _append(7)
    size = head()[0]
    result = runner.invoke(args=["audit", "verify", "--from-checkpoint", str(checkpoint.id)])
    assert result.exit_code == 0, result.output
    walked = size - checkpoint.seq
    assert f"ok checkpoint {checkpoint.id} and {walked} events after it" in result.output
    recorded = json.loads(db.session.scalar(select(AuditEvent.data).where(
        AuditEvent.type == EventType.AUDIT_VERIFIED.value).order_by(AuditEvent.seq.desc()).limit(1)))
    assert recorded == {"ok": True, "events": size, "broken_at": None, "checkpoints": 1,
                        "from_checkpoint": checkpoint.id, "walked": walked}
    # An event before the checkpoint is the full walk's business, not this one's.
    _sql("UPDATE audit_events SET data = '{}' WHERE seq = 2")
    assert verify_from_checkpoint(ACTOR, checkpoint.id)[0].ok


def test_a_rewritten_event_after_the_checkpoint_is_named(app, runner):
    _append(3)
    checkpoint = sign_checkpoint(ACTOR)
    _append(4)
    _sql("UPDATE audit_events SET data = '{\"note\":\"改ざん\"}' WHERE seq = :s", s=checkpoint.seq + 3)
    result = runner.invoke(args=["audit", "verify", "--from-checkpoint", str(checkpoint.id)])
    assert result.exit_code == 1
    assert f"broken at event {checkpoint.seq + 3}: ハッシュが一致しません" in result.output


def test_a_forged_checkpoint_or_a_changed_head_event_is_broken(app):
    _append(3)
    checkpoint = sign_checkpoint(ACTOR)
    _append(2)
    _sql("UPDATE audit_events SET hash = :h WHERE seq = :s", h="cd" * 32, s=checkpoint.seq)
    result, walked = verify_from_checkpoint(ACTOR, checkpoint.id)
    assert not result.ok and result.broken_at == checkpoint.seq and "署名されたハッシュと一致しません" in result.reason
    assert walked == 0
    _sql("UPDATE audit_checkpoints SET signature = :s WHERE id = :i", s="00" * 64, i=checkpoint.id)
    result, _ = verify_from_checkpoint(ACTOR, checkpoint.id)
    assert not result.ok and "署名が正しくありません" in result.reason


def test_a_tree_node_changed_before_or_after_the_checkpoint_is_broken(app):
    _append(6)
    checkpoint = sign_checkpoint(ACTOR)  # 7 or more events: the root reads the node over 1-4
    _append(9)
    _sql("UPDATE audit_tree_nodes SET hash = :h WHERE level = 2 AND idx = 0", h=b"\x00" * 32)
    result, _ = verify_from_checkpoint(ACTOR, checkpoint.id)
    assert not result.ok and "Merkle 木の根" in result.reason
    rebuild_tree(ACTOR)  # put it right from the chain, then change a node wholly after the checkpoint
    assert verify_from_checkpoint(ACTOR, checkpoint.id)[0].ok
    later = checkpoint.seq + 2 if checkpoint.seq % 2 == 0 else checkpoint.seq + 3
    _sql("UPDATE audit_tree_nodes SET hash = :h WHERE level = 1 AND idx = :i", h=b"\x01" * 32, i=(later - 1) // 2)
    result, _ = verify_from_checkpoint(ACTOR, checkpoint.id)
    assert not result.ok and "Merkle 木の節" in result.reason, result.reason


def test_an_unknown_or_malformed_checkpoint_is_one_japanese_line(app, runner):
    for value in ("999", "abc", "１x"):
        result = runner.invoke(args=["audit", "verify", "--from-checkpoint", value])
        assert result.exit_code != 0
        assert "Traceback" not in result.output and "確認点" in result.output, result.output


def test_a_broken_link_after_the_checkpoint_is_named(app):
    """A deleted event, and an event whose stored hash was replaced (the next one no longer
    follows from it): both in the one pass that also reads the tree."""
    _append(3)
    checkpoint = sign_checkpoint(ACTOR)
    _append(6)
    gone = checkpoint.seq + 4
    _sql("DELETE FROM audit_events WHERE seq = :s", s=gone)
    result, _ = verify_from_checkpoint(ACTOR, checkpoint.id)
    assert not result.ok and result.broken_at == gone and "連番が連続していません" in result.reason
    assert result.events == gone - 1


def test_a_replaced_hash_breaks_the_link_to_the_next_event(app):
    _append(3)
    checkpoint = sign_checkpoint(ACTOR)
    _append(6)
    changed = checkpoint.seq + 2
    _sql("UPDATE audit_events SET hash = :h WHERE seq = :s", h="ab" * 32, s=changed)
    result, _ = verify_from_checkpoint(ACTOR, checkpoint.id)
    assert not result.ok and result.broken_at == changed and "ハッシュが一致しません" in result.reason


def test_a_wrong_or_missing_node_is_found_in_any_batch(app, monkeypatch):
    """The walk reads events and the nodes over them a batch at a time: a node in a later batch
    than the first is checked as strictly."""
    monkeypatch.setattr("lifecycle.audit.checkpoints.VERIFY_BATCH", 4)
    _append(5)
    checkpoint = sign_checkpoint(ACTOR)
    _append(20)
    assert verify_from_checkpoint(ACTOR, checkpoint.id)[0].ok
    size = head()[0]
    level, idx = 2, (size - 4) // 4  # a node over four events well after the checkpoint's batch
    assert (idx << level) >= checkpoint.seq + 8
    _sql("UPDATE audit_tree_nodes SET hash = :h WHERE level = :l AND idx = :i", h=b"\x02" * 32, l=level, i=idx)
    result, _ = verify_from_checkpoint(ACTOR, checkpoint.id)
    first, last = (idx << level) + 1, (idx + 1) << level
    assert not result.ok and result.broken_at == checkpoint.seq + 1
    assert f"Merkle 木の節（記録 {first}～{last} 番の部分木）が、記録から計算した値と一致しません" in result.reason
    rebuild_tree(ACTOR)
    _sql("DELETE FROM audit_tree_nodes WHERE level = 1 AND idx = :i", i=(size - 2) // 2)
    result, _ = verify_from_checkpoint(ACTOR, checkpoint.id)
    assert not result.ok and "がありません" in result.reason, result.reason


def test_a_root_not_the_signed_one_fails_before_any_event_is_read(app):
    _append(5)
    checkpoint = sign_checkpoint(ACTOR)
    _append(3)
    # The stored node that alone makes the root of the first four events: the signed root differs.
    _sql("UPDATE audit_tree_nodes SET hash = :h WHERE level = 2 AND idx = 0", h=b"\x03" * 32)
    result, walked = verify_from_checkpoint(ACTOR, checkpoint.id)
    assert not result.ok and walked == 0 and "署名された根と一致しません" in result.reason
