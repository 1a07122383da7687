"""Appending to and walking the audit chain.

The canonical encoding is the stored column values joined by U+001F, with `data` already stored
as canonical JSON text. Verification therefore hashes what it reads without re-serialising
anything, which is what lets a million events verify in a few seconds.
"""
from __future__ import annotations

import hashlib
import json
from collections import namedtuple
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, NamedTuple

from sqlalchemy import bindparam, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from ..clock import iso, utcnow
from ..errors import AuditLogFault
from ..extensions import db
from . import tree
from .events import EventType
from .models import AuditEvent, AuditHead, DeniedCount

if TYPE_CHECKING:
    from ..actors import Actor

GENESIS = "0" * 64
SEP = "\x1f"

#: Keys that must never reach the log, whatever a caller passes.
FORBIDDEN_KEYS = frozenset({"my_number", "password", "token", "secret", "plaintext"})


def actor_name(actor: Actor | None) -> str:
    """What the log records of who acted: a login, "system:…", or "anonymous"."""
    return "anonymous" if actor is None else actor.login


def canonical_data(details: dict) -> str:
    return json.dumps(details, ensure_ascii=False, sort_keys=True, separators=(",", ":"), default=str)


def chain_hash(prev: str, seq: int, at: datetime, type_: str, actor: str, subject: str | None,
               data: str) -> str:
    text = SEP.join((prev, str(seq), at.isoformat(timespec="microseconds"), type_, actor,
                     subject or "", data))
    return hashlib.sha256(text.encode()).hexdigest()


#: The chain head is read and moved with Core statements under the write lock: nothing keeps an
#: AuditHead object in a session, so there is no stale copy to overwrite it.
_HEAD = select(AuditHead.seq, AuditHead.hash).where(AuditHead.id == 1)
_MOVE_HEAD = (update(AuditHead.__table__).where(AuditHead.__table__.c.id == 1)
              .values(seq=bindparam("new_seq"), hash=bindparam("new_hash")))
_APPEND = insert(AuditEvent.__table__)
_ANY_EVENT = select(AuditEvent.seq).limit(1)

HEAD_MISSING = "監査ログの末尾の記録が見つかりません。監査ログを検証し、システム管理者に連絡してください。"
HEAD_BEHIND = "監査ログの末尾の記録が最後の記録を指していません。監査ログを検証し、システム管理者に連絡してください。"


def _require_write() -> None:
    if not db.in_write():
        raise RuntimeError("audit events are written only inside db.transaction()")


def _refuse_secrets(details: dict) -> None:
    _require_write()
    leaked = FORBIDDEN_KEYS.intersection(details)
    if leaked:
        raise ValueError(f"refusing to log secret fields: {sorted(leaked)}")


def _next_link(session):
    """(the head row or None, the next seq, the hash it links to)."""
    current = session.execute(_HEAD).first()
    if current is not None:
        return current, current.seq + 1, current.hash
    if session.execute(_ANY_EVENT).first() is None:
        return None, 1, GENESIS  # the very first event
    # appending at 1 again would fork the chain (and fail on the key): refuse the action
    raise AuditLogFault(HEAD_MISSING)


def record_event(type_: EventType, *, actor, subject: str | None = None, **details) -> int:
    """Appends one event inside the caller's write transaction (db.transaction()); returns its seq."""
    _refuse_secrets(details)
    session = db.session()
    current, seq, prev = _next_link(session)
    at = utcnow()
    name = actor_name(actor)
    type_value = EventType(type_).value
    data = canonical_data(details)
    digest = chain_hash(prev, seq, at, type_value, name, subject, data)
    try:
        session.execute(_APPEND, {"seq": seq, "at": at, "type": type_value, "actor": name, "subject": subject,
                                  "data": data, "hash": digest})
    except IntegrityError:  # an event already holds this seq: the head row was moved back
        raise AuditLogFault(HEAD_BEHIND) from None
    tree.on_append(seq, digest, prev)  # the Merkle tree grows in the same transaction
    if current is None:
        session.execute(insert(AuditHead.__table__), {"id": 1, "seq": seq, "hash": digest})
    else:
        session.execute(_MOVE_HEAD, {"new_seq": seq, "new_hash": digest})
    return seq


class NewEvent(NamedTuple):
    """One event of a batch for record_events: what record_event takes besides the actor."""
    type: EventType
    subject: str | None
    details: dict


def record_events(events: Sequence[NewEvent], *, actor) -> list[int]:
    """Appends many events of one actor inside the caller's write transaction, with one read of
    the head, one insert of the rows and one of the Merkle nodes: the chain hashes and the tree
    are exactly those of record_event called for each in turn. Returns their seqs."""
    if not events:
        _require_write()
        return []
    for event in events:
        _refuse_secrets(event.details)
    session = db.session()
    current, first, prev = _next_link(session)
    name = actor_name(actor)
    rows, digests = [], []
    for seq, event in enumerate(events, first):
        at = utcnow()
        type_value = EventType(event.type).value
        data = canonical_data(event.details)
        prev = chain_hash(prev, seq, at, type_value, name, event.subject, data)
        rows.append({"seq": seq, "at": at, "type": type_value, "actor": name, "subject": event.subject,
                     "data": data, "hash": prev})
        digests.append(prev)
    try:
        session.execute(_APPEND, rows)
    except IntegrityError:
        raise AuditLogFault(HEAD_BEHIND) from None
    tree.on_append_many(first, digests)
    last = first + len(rows) - 1
    if current is None:
        session.execute(insert(AuditHead.__table__), {"id": 1, "seq": last, "hash": prev})
    else:
        session.execute(_MOVE_HEAD, {"new_seq": last, "new_hash": prev})
    return list(range(first, last + 1))


_COUNT_AGAIN = (update(DeniedCount.__table__)
                .where(DeniedCount.address == bindparam("from_address"), DeniedCount.minute == bindparam("window"))
                .values(repeats=DeniedCount.repeats + 1))


def record_denied(actor: Actor, *, path: str, method: str, reason: str, address: str | None = None) -> None:
    """A refused request is itself an event, in a transaction of its own (the refused one rolled back).

    Anonymous refusals are grouped per address and minute, so that a stream of them cannot flood
    the log: the first of a minute is an event, the others are counted in the database (every
    worker and server adds to the same row), and the count becomes one `access:denied_repeated`
    event when the next minute's first anonymous refusal comes, or the scheduled job. A signed-in
    user's or a token's refusals are one event each.
    """
    details = {"path": path[:200], "method": method, "reason": reason[:200]}
    if address:
        details["addr"] = address[:64]
    with db.transaction() as session:
        if actor is not None:
            record_event(EventType.ACCESS_DENIED, actor=actor, **details)
            return
        minute, source = utcnow().replace(second=0, microsecond=0), (address or "")[:64]
        if session.execute(_COUNT_AGAIN, {"from_address": source, "window": minute}).rowcount:
            return
        summarise_denied(before=minute)  # the earlier minutes' counts come first in the log
        session.execute(insert(DeniedCount.__table__), {"address": source, "minute": minute, "repeats": 0})
        record_event(EventType.ACCESS_DENIED, actor=None, **details)


def summarise_denied(before: datetime | None = None) -> int:
    """Writes each finished minute's count of further anonymous refusals as one event and forgets
    the minute; returns how many events it wrote. Safe to run twice: a minute goes with its event."""
    before = before or utcnow().replace(second=0, microsecond=0)
    with db.transaction() as session:
        rows = session.execute(select(DeniedCount.address, DeniedCount.minute, DeniedCount.repeats)
                               .where(DeniedCount.minute < before)
                               .order_by(DeniedCount.minute, DeniedCount.address)).all()
        written = 0
        for address, minute, repeats in rows:
            if repeats:
                record_event(EventType.ACCESS_DENIED_REPEATED, actor=None, addr=address, minute=iso(minute),
                             repeats=repeats)
                written += 1
        if rows:
            session.execute(delete(DeniedCount.__table__).where(DeniedCount.minute < before))
    return written


@dataclass(frozen=True)
class Verification:
    ok: bool
    events: int
    head: str
    broken_at: int | None = None
    reason: str | None = None

    def to_json(self) -> dict:
        if self.ok:
            return {"ok": True, "events": self.events, "head": self.head}
        return {"ok": False, "broken_at": self.broken_at, "reason": self.reason, "events": self.events}


@dataclass(frozen=True)
class SignedHead:
    """A signed checkpoint as verification uses it, from the database or the checkpoint file:
    "the chain had `seq` events ending in `head`", and whether its signature holds."""
    name: str  #: how a person finds it: 「確認点 第3号」, 「確認点ファイル 4 行目（確認点 第3号）」
    seq: int
    head: str
    signature_ok: bool


def _broken(at: int, prev: str, reason: str) -> Verification:
    """Everything before event `at` was found in order."""
    return Verification(False, at - 1, prev, at, reason)


def _forged(checkpoint: SignedHead) -> str:
    return (f"{checkpoint.name}の署名が正しくありません。確認点が偽造または改変されています"
            "（このシステムの公開鍵で検証できません）。")


def _checkpoint_fault(found: list[SignedHead], seq: int, digest: str, proven: int) -> str | None:
    """Why the checkpoints of event `seq` do not hold, if they do not; `proven` is the last
    event a checkpoint has vouched for."""
    for checkpoint in found:
        if not checkpoint.signature_ok:
            return _forged(checkpoint)
        if checkpoint.head != digest:
            return (f"{checkpoint.name}に署名されたハッシュと、第 {seq} 番の記録のハッシュが一致しません。"
                    f"第 {proven + 1}〜{seq} 番のいずれかの記録が改変され、以降のハッシュが計算し直された"
                    "可能性があります。")
    return None


def _end_fault(head_row, count: int, prev: str, checkpoints: Sequence[SignedHead]) -> Verification | None:
    """What the walk cannot see: the tail. A checkpoint's own event follows the head it signs, so
    a checkpoint of `seq` needs at least seq + 1 events and a head row past it."""
    beyond = sorted((c for c in checkpoints if c.seq >= count), key=lambda c: c.seq)
    if beyond:
        checkpoint = beyond[0]
        if not checkpoint.signature_ok:
            reason = _forged(checkpoint)
        elif checkpoint.seq > count:
            reason = (f"{checkpoint.name}は第 {checkpoint.seq} 番までの記録に署名していますが、記録は第 {count} 番"
                      "で終わっています。末尾の記録が削除された可能性があります。")
        else:
            reason = (f"{checkpoint.name}の署名自体の記録（第 {count + 1} 番）がありません。"
                      "末尾の記録が削除された可能性があります。")
        return _broken(count + 1, prev, reason)
    if head_row is None:
        if count == 0:
            return None  # nothing recorded yet: the first event starts the chain
        return _broken(count + 1, prev, f"監査ログの末尾の記録（audit_head）がありません。記録は第 {count} 番まで"
                       "連続していますが、それより後の記録が削除されていないことを確かめられず、新しい記録も"
                       "書けません。システム管理者に連絡してください。")
    head_seq, head_hash = head_row
    latest = max(checkpoints, key=lambda c: c.seq, default=None)
    if latest is not None and head_seq <= latest.seq:
        return _broken(head_seq + 1, prev, f"監査ログの末尾の記録が第 {head_seq} 番を指していますが、{latest.name}"
                       f"は第 {latest.seq} 番までに署名され、その署名自体が第 {latest.seq + 1} 番に記録されています。"
                       "末尾が戻された可能性があります。")
    if head_seq > count:
        return _broken(count + 1, prev, f"記録は第 {count} 番で終わっていますが、監査ログの末尾の記録は第 {head_seq} 番"
                       "を指しています。末尾の記録が削除された可能性があります。")
    if head_seq < count:
        return _broken(head_seq + 1, prev, f"監査ログの末尾の記録が第 {head_seq} 番を指していますが、記録は第 {count} 番"
                       "まであります。末尾が戻された可能性があります。")
    if head_hash != prev:
        return _broken(count, prev, f"監査ログの末尾の記録のハッシュが、第 {count} 番の記録のハッシュと一致しません。")
    return None


def verify_chain(checkpoints: Sequence[SignedHead] = (), batch: int = 20000, *, after: int = 0,
                 after_hash: str = GENESIS, tree_check=None) -> Verification:
    """Walks the whole chain in seq order and names the first event that does not fit: a hash
    that does not follow, a gap, a checkpoint whose signature fails or that the chain does not
    pass through (a rewrite that recomputed every later hash), a checkpoint past the end, and a
    head row that is missing or does not name the last event (a deleted tail).

    Reads through the raw DB-API cursor: at a million rows the ORM's row processing costs more
    than the hashing. SQLite hands back `at` as stored text ("YYYY-MM-DD HH:MM:SS.ffffff"),
    PostgreSQL as a datetime; both are brought to the isoformat that was hashed. The head row and
    the events are read in one snapshot, so appends meanwhile are not taken for a broken tail;
    the checkpoints, read before it, are all inside that snapshot.

    With `after`, the walk starts behind event `after`, whose hash `after_hash` the caller has
    established (a signed checkpoint's head): only the events after it are read.

    With `tree_check`, the same pass checks the stored Merkle tree too: it is called with the
    connection (the walk's snapshot) and the hashes of each batch once the batch's links hold,
    and returns why the tree is wrong, or None; a broken chain is reported before a wrong tree.
    """
    wanted: dict[int, list[SignedHead]] = {}
    for checkpoint in checkpoints:
        wanted.setdefault(checkpoint.seq, []).append(checkpoint)
    prev, expected, count, proven = after_hash, after + 1, after, after
    tree_fault: str | None = None
    sha256, join = hashlib.sha256, SEP.join
    db.session.rollback()
    raw = db.engine.raw_connection()
    try:
        cursor = raw.cursor()
        cursor.execute("BEGIN" if db.is_sqlite else "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        cursor.execute("SELECT seq, hash FROM audit_head WHERE id = 1")
        head_row = cursor.fetchone()
        if after == 0 and 0 in wanted and (fault := _checkpoint_fault(wanted[0], 0, GENESIS, 0)):
            return _broken(1, prev, fault)
        cursor.execute("SELECT seq, at, type, actor, subject, data, hash FROM audit_events WHERE seq > "
                       f"{int(after)} ORDER BY seq")
        while rows := cursor.fetchmany(batch):
            for seq, at, type_, actor, subject, data, stored in rows:
                if seq != expected:
                    reason = (f"連番が連続していません（{expected} 番のイベントが見つからず、次が {seq} 番です）。"
                              "削除または並べ替えの可能性があります。")
                    return Verification(False, count, prev, seq if seq < expected else expected, reason)
                at_text = at.replace(" ", "T", 1) if isinstance(at, str) else at.isoformat(timespec="microseconds")
                text = join((prev, str(seq), at_text, type_, actor, subject or "", data))
                if sha256(text.encode()).hexdigest() != stored:
                    return Verification(False, count, prev, seq,
                                        "ハッシュが一致しません。このイベントの内容、または前後の順序が改変されています。")
                if seq in wanted:
                    if fault := _checkpoint_fault(wanted[seq], seq, stored, proven):
                        return _broken(seq, prev, fault)
                    proven = seq
                prev, expected, count = stored, expected + 1, count + 1
            if tree_check is not None and tree_fault is None:
                tree_fault = tree_check(raw, [row[6] for row in rows])
        cursor.close()
    finally:
        raw.rollback()
        raw.close()
    if tree_fault is not None:
        return _end_fault(head_row, count, prev, checkpoints) or Verification(False, count, prev, after + 1,
                                                                               tree_fault)
    return _end_fault(head_row, count, prev, checkpoints) or Verification(True, count, prev)


def head() -> tuple[int, str]:
    row = db.session.execute(_HEAD).first()
    return (row.seq, row.hash) if row else (0, GENESIS)


EVENT_COLUMNS = tuple(AuditEvent.__table__.c)
_EVENTS_FOR = (select(*EVENT_COLUMNS).where(AuditEvent.subject == bindparam("subject"))
               .order_by(AuditEvent.seq))
#: An event as a plain named tuple, for pages and reports that only show it.
EventRow = namedtuple("EventRow", [column.key for column in EVENT_COLUMNS])


def events_for(subject: str) -> list[EventRow]:
    """The subject's events, oldest first, read-only, with the columns as attributes."""
    return [EventRow(*row) for row in db.session.connection().execute(_EVENTS_FOR, {"subject": subject})]


@dataclass(frozen=True)
class EventFilter:
    date_from: datetime | None = None
    date_to: datetime | None = None
    actor: str | None = None
    type: str | None = None
    subject: str | None = None


def search_events(flt: EventFilter, *, page: int = 1, per_page: int = 50) -> tuple[list[AuditEvent], int]:
    query = select(AuditEvent)
    if flt.date_from:
        query = query.where(AuditEvent.at >= flt.date_from)
    if flt.date_to:
        query = query.where(AuditEvent.at < flt.date_to)
    if flt.actor:
        query = query.where(AuditEvent.actor == flt.actor)
    if flt.type:
        query = query.where(AuditEvent.type == flt.type)
    if flt.subject:
        query = query.where(AuditEvent.subject == flt.subject)
    total = db.session.scalar(select(func.count()).select_from(query.subquery()))
    rows = db.session.scalars(query.order_by(AuditEvent.seq.desc())
                              .limit(per_page).offset((page - 1) * per_page))
    return list(rows), total or 0
