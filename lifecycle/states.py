"""THE state machine: every kind's states, the allowed moves, and the one function that moves.

Nothing else assigns `.status`. `transition()` checks the move, sets the state and records the
audit event in the caller's transaction, so a state change without its event cannot exist.
"""
from __future__ import annotations

from enum import StrEnum
from typing import Any

from sqlalchemy import update

from .audit.services import NewEvent, record_event, record_events
from .errors import InvalidTransition
from .extensions import db


class Kind(StrEnum):
    FORM = "form"
    MEDIUM = "medium"
    DEVICE = "device"
    MY_NUMBER_COPY = "my_number_copy"
    TRANSFER = "transfer"
    DESTRUCTION = "destruction"
    ERASURE_CERTIFICATE = "erasure_certificate"
    #: A grant of bulk_operator asked by one admin, awaiting a second admin's approval.
    GRANT_REQUEST = "grant_request"
    #: A request to use a 住基ネット terminal (使用伺い), approved by the terminal's department.
    TERMINAL_USE = "terminal_use"
    #: A 指摘事項 from an audit, review, stocktake or self-inspection, tracked to its 現地確認.
    FINDING = "finding"
    #: One department's yearly self-inspection (自己点検) against the checklist.
    SELF_INSPECTION = "self_inspection"
    #: A planned 棚卸 of one department's items, done by scanning labels.
    STOCKTAKE = "stocktake"


ITEM_KINDS = (Kind.FORM, Kind.MEDIUM, Kind.DEVICE)

KIND_LABELS = {
    Kind.FORM: "帳票",
    Kind.MEDIUM: "媒体",
    Kind.DEVICE: "機器",
    Kind.MY_NUMBER_COPY: "個人番号の一時保存",
    Kind.TRANSFER: "引継ぎ",
    Kind.DESTRUCTION: "廃棄",
    Kind.ERASURE_CERTIFICATE: "消去証明書",
    Kind.GRANT_REQUEST: "権限付与の承認依頼",
    Kind.TERMINAL_USE: "端末の使用伺い",
    Kind.FINDING: "指摘事項",
    Kind.SELF_INSPECTION: "自己点検",
    Kind.STOCKTAKE: "棚卸",
}

#: Item code prefixes (F-2026-000123).
CODE_PREFIX = {Kind.FORM: "F", Kind.MEDIUM: "M", Kind.DEVICE: "D"}


class State(StrEnum):
    # items
    REGISTERED = "registered"
    IN_CUSTODY = "in_custody"
    IN_TRANSFER = "in_transfer"
    PROVIDED = "provided"
    RETURNED = "returned"
    AWAITING_DESTRUCTION = "awaiting_destruction"
    DESTROYED = "destroyed"
    #: Witnessed going to the pulping contractor; destroyed once its certificate is accepted.
    AWAITING_PULPING_CERTIFICATE = "awaiting_pulping_certificate"
    #: The holder was forced out of the role: the department's security manager is responsible
    #: until someone confirms where the item is and takes it into custody.
    CUSTODY_UNCONFIRMED = "custody_unconfirmed"
    IN_SERVICE = "in_service"
    ERASURE_REQUESTED = "erasure_requested"
    ERASURE_CERTIFIED = "erasure_certified"
    RETURNED_TO_LESSOR = "returned_to_lessor"
    # 個人番号 copies
    RETAINED = "retained"
    PURGED = "purged"
    # hand-offs
    PENDING = "pending"
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    CANCELLED = "cancelled"
    # destruction batches
    AWAITING_WITNESS = "awaiting_witness"
    COMPLETED = "completed"
    # erasure certificates
    SUBMITTED = "submitted"
    # approvals
    APPROVED = "approved"
    REFUSED = "refused"
    # terminal-use approvals (使用伺い)
    REQUESTED = "requested"
    CLOSED = "closed"
    # findings (指摘事項)
    RECORDED = "recorded"
    PLANNED = "planned"
    ACTION_REPORTED = "action_reported"
    RESOLVED = "resolved"
    # self-inspections (自己点検)
    ANSWERING = "answering"
    FILED = "filed"
    #: Expected in a closed 棚卸 and not found (所在不明); back to its previous state when found.
    MISSING = "missing"
    #: A missing item written off (亡失処理) by a security manager other than the one who closed
    #: the stocktake. Final: nothing is deleted, the item stays in the ledger as lost.
    WRITTEN_OFF = "written_off"
    # stocktakes (棚卸): scanning, closed (reconciled), signed by the security manager
    OPEN = "open"
    SIGNED = "signed"


S = State

STATE_LABELS = {
    S.REGISTERED: "登録済",
    S.IN_CUSTODY: "保管中",
    S.IN_TRANSFER: "引継ぎ中",
    S.PROVIDED: "提供中",
    S.RETURNED: "返却済",
    S.AWAITING_DESTRUCTION: "廃棄待ち",
    S.DESTROYED: "廃棄済",
    S.AWAITING_PULPING_CERTIFICATE: "溶解証明待ち",
    S.IN_SERVICE: "使用中",
    S.ERASURE_REQUESTED: "消去依頼中",
    S.ERASURE_CERTIFIED: "消去証明済",
    S.RETURNED_TO_LESSOR: "リース会社へ返却済",
    S.RETAINED: "保存中",
    S.PURGED: "消去済",
    S.PENDING: "受領待ち",
    S.ACCEPTED: "受領済",
    S.REJECTED: "差戻し",
    S.CANCELLED: "取消し",
    S.AWAITING_WITNESS: "立会い待ち",
    S.COMPLETED: "完了",
    S.SUBMITTED: "確認待ち",
    S.CUSTODY_UNCONFIRMED: "所在確認待ち",
    S.APPROVED: "承認済",
    S.REFUSED: "却下",
    S.REQUESTED: "承認待ち",
    S.CLOSED: "使用終了",
    S.RECORDED: "改善計画待ち",
    S.PLANNED: "措置中",
    S.ACTION_REPORTED: "現地確認待ち",
    S.RESOLVED: "完了（現地確認済）",
    S.ANSWERING: "回答中",
    S.FILED: "提出済",
    S.MISSING: "所在不明",
    S.WRITTEN_OFF: "亡失処理済",
    S.OPEN: "実施中",
    S.SIGNED: "確認済（署名）",
}

#: What the move to a state is called, for "what is possible" in refusals.
ACTION_LABELS = {
    S.IN_CUSTODY: "保管",
    S.IN_TRANSFER: "引継ぎ",
    S.PROVIDED: "提供",
    S.RETURNED: "返却",
    S.AWAITING_DESTRUCTION: "廃棄の申請",
    S.DESTROYED: "廃棄（立会い）",
    S.AWAITING_PULPING_CERTIFICATE: "溶解の立会い（証明書待ち）",
    S.IN_SERVICE: "消去依頼の取下げ",
    S.ERASURE_REQUESTED: "消去依頼",
    S.ERASURE_CERTIFIED: "消去証明書の受理",
    S.RETURNED_TO_LESSOR: "リース会社への返却",
    S.PURGED: "消去",
    S.ACCEPTED: "受領",
    S.REJECTED: "差戻し",
    S.CANCELLED: "取消し",
    S.COMPLETED: "立会い（完了）",
    S.CUSTODY_UNCONFIRMED: "所在確認待ちへの移行（保管者の強制離任）",
    S.APPROVED: "承認",
    S.REFUSED: "却下",
    S.CLOSED: "使用終了の記録",
    S.PLANNED: "改善計画の提出（差戻し後は措置のやり直し）",
    S.ACTION_REPORTED: "措置完了の報告",
    S.RESOLVED: "現地確認による完了",
    S.FILED: "自己点検の提出",
    S.MISSING: "所在不明の記録（棚卸の締め）",
    S.WRITTEN_OFF: "亡失処理",
    S.SIGNED: "棚卸結果の確認（署名）",
}

INITIAL = {
    Kind.FORM: S.REGISTERED,
    Kind.MEDIUM: S.REGISTERED,
    Kind.DEVICE: S.IN_SERVICE,
    Kind.MY_NUMBER_COPY: S.RETAINED,
    Kind.TRANSFER: S.PENDING,
    Kind.DESTRUCTION: S.AWAITING_WITNESS,
    Kind.ERASURE_CERTIFICATE: S.SUBMITTED,
    Kind.GRANT_REQUEST: S.PENDING,
    Kind.TERMINAL_USE: S.REQUESTED,
    Kind.FINDING: S.RECORDED,
    Kind.SELF_INSPECTION: S.ANSWERING,
    Kind.STOCKTAKE: S.OPEN,
}

# 棚卸 (stocktake): the states in which an item is on a shelf of its department, so a stocktake
# expects to scan it. Not in_transfer or awaiting_destruction (an open hand-off or batch answers
# for it), not provided (at the recipient), not a device whose erasure is certified (its data is
# gone and only the lessor's pick-up remains), not final. An expected item not scanned becomes
# `missing` from one of these, and goes back to exactly that one only when found
# (return_from_missing, with the state read from the stocktake's record): the table lets no other
# move out of `missing` but the write-off, so no hand-off, erasure request or forced leave can
# quietly end a 所在不明.
STOCKTAKE_HELD_FORM = frozenset({S.REGISTERED, S.IN_CUSTODY, S.CUSTODY_UNCONFIRMED})
STOCKTAKE_HELD_MEDIUM = frozenset({S.REGISTERED, S.IN_CUSTODY, S.CUSTODY_UNCONFIRMED, S.RETURNED})
STOCKTAKE_HELD_DEVICE = frozenset({S.IN_SERVICE, S.ERASURE_REQUESTED})
STOCKTAKE_HELD = {Kind.FORM: STOCKTAKE_HELD_FORM, Kind.MEDIUM: STOCKTAKE_HELD_MEDIUM,
                  Kind.DEVICE: STOCKTAKE_HELD_DEVICE}

# `registered` is the registrant's own custody before any hand-off, so everything an item in
# custody may do, a freshly registered one may do too (docs/api.md has no separate "store" step).
# A rejected hand-off and a cancelled destruction bring the item back to `in_custody`.
TRANSITIONS: dict[Kind, dict[State, frozenset[State]]] = {
    Kind.FORM: {
        S.REGISTERED: frozenset({S.IN_CUSTODY, S.IN_TRANSFER, S.AWAITING_DESTRUCTION, S.CUSTODY_UNCONFIRMED,
                                 S.MISSING}),
        S.IN_CUSTODY: frozenset({S.IN_TRANSFER, S.AWAITING_DESTRUCTION, S.CUSTODY_UNCONFIRMED, S.MISSING}),
        S.IN_TRANSFER: frozenset({S.IN_CUSTODY}),
        S.CUSTODY_UNCONFIRMED: frozenset({S.IN_CUSTODY, S.MISSING}),
        S.AWAITING_DESTRUCTION: frozenset({S.DESTROYED, S.IN_CUSTODY, S.AWAITING_PULPING_CERTIFICATE}),
        S.AWAITING_PULPING_CERTIFICATE: frozenset({S.DESTROYED}),
        S.DESTROYED: frozenset(),
        S.MISSING: frozenset({S.WRITTEN_OFF}),
        S.WRITTEN_OFF: frozenset(),
    },
    Kind.MEDIUM: {
        S.REGISTERED: frozenset({S.IN_CUSTODY, S.IN_TRANSFER, S.PROVIDED, S.AWAITING_DESTRUCTION,
                                 S.CUSTODY_UNCONFIRMED, S.MISSING}),
        S.IN_CUSTODY: frozenset({S.IN_TRANSFER, S.PROVIDED, S.AWAITING_DESTRUCTION, S.CUSTODY_UNCONFIRMED,
                                 S.MISSING}),
        S.IN_TRANSFER: frozenset({S.IN_CUSTODY}),
        S.CUSTODY_UNCONFIRMED: frozenset({S.IN_CUSTODY, S.MISSING}),
        S.PROVIDED: frozenset({S.RETURNED}),
        S.RETURNED: frozenset({S.AWAITING_DESTRUCTION, S.MISSING}),
        S.AWAITING_DESTRUCTION: frozenset({S.DESTROYED, S.IN_CUSTODY}),
        S.DESTROYED: frozenset(),
        S.MISSING: frozenset({S.WRITTEN_OFF}),
        S.WRITTEN_OFF: frozenset(),
    },
    Kind.DEVICE: {
        S.IN_SERVICE: frozenset({S.ERASURE_REQUESTED, S.MISSING}),
        S.ERASURE_REQUESTED: frozenset({S.ERASURE_CERTIFIED, S.IN_SERVICE, S.MISSING}),
        S.ERASURE_CERTIFIED: frozenset({S.RETURNED_TO_LESSOR}),
        S.RETURNED_TO_LESSOR: frozenset(),
        S.MISSING: frozenset({S.WRITTEN_OFF}),
        S.WRITTEN_OFF: frozenset(),
    },
    Kind.STOCKTAKE: {
        S.OPEN: frozenset({S.CLOSED, S.CANCELLED}),
        S.CLOSED: frozenset({S.SIGNED}),
        S.SIGNED: frozenset(),
        S.CANCELLED: frozenset(),
    },
    Kind.MY_NUMBER_COPY: {
        S.RETAINED: frozenset({S.PURGED}),
        S.PURGED: frozenset(),
    },
    Kind.TRANSFER: {
        S.PENDING: frozenset({S.ACCEPTED, S.REJECTED, S.CANCELLED}),
        S.ACCEPTED: frozenset(),
        S.REJECTED: frozenset(),
        S.CANCELLED: frozenset(),
    },
    Kind.DESTRUCTION: {
        S.AWAITING_WITNESS: frozenset({S.COMPLETED, S.CANCELLED}),
        S.COMPLETED: frozenset(),
        S.CANCELLED: frozenset(),
    },
    Kind.ERASURE_CERTIFICATE: {
        S.SUBMITTED: frozenset({S.ACCEPTED, S.REJECTED}),
        S.ACCEPTED: frozenset(),
        S.REJECTED: frozenset(),
    },
    Kind.GRANT_REQUEST: {
        S.PENDING: frozenset({S.APPROVED, S.REFUSED, S.CANCELLED}),
        S.APPROVED: frozenset(),
        S.REFUSED: frozenset(),
        S.CANCELLED: frozenset(),
    },
    # A use that happened without approval is still recorded (requested → closed): the book must
    # hold every use, and the exceptions list shows that one (terminals/queries.py).
    Kind.TERMINAL_USE: {
        S.REQUESTED: frozenset({S.APPROVED, S.REFUSED, S.CANCELLED, S.CLOSED}),
        S.APPROVED: frozenset({S.CLOSED, S.CANCELLED}),
        S.REFUSED: frozenset(),
        S.CANCELLED: frozenset(),
        S.CLOSED: frozenset(),
    },
    # A finding sent back after the on-site check returns to `planned`: the plan stands and the
    # department reports its action again. Only the 現地確認 closes a finding.
    Kind.FINDING: {
        S.RECORDED: frozenset({S.PLANNED}),
        S.PLANNED: frozenset({S.ACTION_REPORTED}),
        S.ACTION_REPORTED: frozenset({S.RESOLVED, S.PLANNED}),
        S.RESOLVED: frozenset(),
    },
    Kind.SELF_INSPECTION: {
        S.ANSWERING: frozenset({S.FILED}),
        S.FILED: frozenset(),
    },
}

#: An item in one of these states is finished: nothing more can happen to it.
FINAL = {S.DESTROYED, S.RETURNED_TO_LESSOR, S.PURGED, S.WRITTEN_OFF}


def states_of(kind: Kind) -> tuple[State, ...]:
    return tuple(TRANSITIONS[kind])


def allowed(kind: Kind, current: str) -> frozenset[State]:
    return TRANSITIONS[Kind(kind)].get(State(current), frozenset())


def can(kind: Kind, current: str, to: State) -> bool:
    return State(to) in allowed(kind, current)


def label(state: str | None) -> str:
    found = STATE_LABELS.get(state)  # a StrEnum member hashes and compares as its value
    return found if found is not None else str(state)


def refusal_message(kind: Kind, name: str, current: str, to: State) -> str:
    """A Japanese sentence saying where the thing is and what it can do instead."""
    kind = Kind(kind)
    possible = sorted(allowed(kind, current), key=lambda s: list(State).index(s))
    head = f"{KIND_LABELS[kind]}「{name}」は現在「{label(current)}」のため、{ACTION_LABELS.get(to, label(to))}はできません。"
    if possible:
        return head + "この状態で可能な操作: " + "、".join(ACTION_LABELS.get(s, label(s)) for s in possible) + "。"
    return head + "この状態からは、これ以上の操作はできません。"


def transition(obj: Any, to: State, *, actor, event, **details) -> None:
    """Moves obj (anything with state_kind, status and audit_subject) and records `event`."""

    to = State(to)
    kind = Kind(obj.state_kind)
    current = obj.status
    if to not in allowed(kind, current):
        raise InvalidTransition(refusal_message(kind, obj.audit_subject, current, to),
                                current_state=str(current))
    obj.status = to.value
    record_event(event, actor=actor, subject=obj.audit_subject,
                 **{"from": str(current), "to": to.value}, **details)


def transition_rows(entity, rows, to: State, *, actor, event, **details) -> None:
    """transition() for many rows of a mapped class making one move, without loading them:
    rows are (id, kind, audit subject, current state) read in the caller's write transaction.
    Each move is checked as transition() checks it; the states change in one statement per
    chunk and the events are appended as one batch (audit.services.record_events), the same
    chain as one append each."""
    to = State(to)
    batch, ids = [], []
    for row_id, kind, subject, current in rows:
        if to not in allowed(Kind(kind), current):
            raise InvalidTransition(refusal_message(Kind(kind), subject, current, to), current_state=str(current))
        ids.append(row_id)
        batch.append(NewEvent(event, subject, {"from": str(current), "to": to.value, **details}))
    session = db.session()
    for start in range(0, len(ids), _CHUNK):
        # An ORM update: objects of these rows already in the session see the new state too.
        session.execute(update(entity).where(entity.id.in_(ids[start:start + _CHUNK])).values(status=to.value))
    record_events(batch, actor=actor)


#: Ids per UPDATE … WHERE id IN (…): within every backend's limit on bound parameters.
_CHUNK = 5000


def return_from_missing(obj: Any, to: State, *, actor, event, **details) -> None:
    """A 所在不明 item found: back to the state it was in when the stocktake closed (`to`, which
    must be one an item of its kind is held in), recording `event` like transition()."""
    to = State(to)
    kind = Kind(obj.state_kind)
    current = obj.status
    if current != S.MISSING.value or to not in STOCKTAKE_HELD.get(kind, frozenset()):
        raise InvalidTransition(refusal_message(kind, obj.audit_subject, current, to), current_state=str(current))
    obj.status = to.value
    record_event(event, actor=actor, subject=obj.audit_subject, **{"from": str(current), "to": to.value}, **details)
