"""The custody chain: two-sided hand-offs, provision and return of bulk media, and the daily scan
that records overdue media and items kept past their retention deadline as exceptions.

Every write re-reads what it decides on inside db.transaction(): writers are serialised there, so
of several people pressing 受領 at once exactly one finds the hand-off still pending.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import bindparam, func, or_, select

from .. import states, validation as v
from ..actors import Actor, SCHEDULER as SCHEDULER_ACTOR
from ..audit.events import EventType
from ..audit.services import record_event
from ..auth.models import Department, RoleGrant, User
from ..roles import require_role, Role
from ..clock import to_jst, today_jst, utcnow
from ..db import row_id
from ..errors import Conflict, Forbidden, Invalid, InvalidTransition, NotFound
from ..extensions import db
from ..items.models import Item
from ..items.services import describe, get_item, visible_to
from ..policy import services as policy
from ..states import Kind, State
from .models import CustodyException, Transfer

#: Who may hold, hand over and receive items. Auditors only read.
CUSTODY_ROLES = (Role.REGISTRAR, Role.BULK_OPERATOR, Role.SECURITY_MANAGER, Role.ADMIN)

OVERDUE_MEDIUM = "overdue_medium"
RETENTION_EXPIRED = "retention_expired"
EXCEPTION_KINDS = {OVERDUE_MEDIUM: "返却期限超過の媒体", RETENTION_EXPIRED: "保存期限超過"}

JOB = "custody_exceptions"
JOB_LABEL = "返却期限・保存期限の超過の記録"

NOTE_MAX = 500



def _free_text(value, label: str, field: str, *, max_len: int = NOTE_MAX,
               multiline: bool = True) -> str | None:
    """Optional text; like every free text it ends up in the audit log, so v.text refuses a 個人番号."""
    return v.text(value, label, max_len=max_len, required=False, field=field, multiline=multiline)


# --- hand-offs ----------------------------------------------------------------------------

def _fresh_item(code: str) -> Item:
    item = get_item(code)
    db.session.refresh(item)
    return item


def _fresh_transfer(transfer_id) -> Transfer:
    key = row_id(transfer_id)
    transfer = db.session.get(Transfer, key, populate_existing=True) if key else None
    if transfer is None:
        raise NotFound(f"引継ぎ 第{transfer_id}号は見つかりません。", code="unknown_transfer")
    db.session.refresh(transfer.item)
    return transfer


def may_hold(user: User) -> bool:
    return isinstance(user, User) and user.has_role(*CUSTODY_ROLES)


def _require_custody_role(actor: Actor, what: str) -> None:
    require_role(actor, *CUSTODY_ROLES,
                 message=f"{what}には「登録担当」「一括利用担当」「セキュリティ管理者」のいずれかの権限が必要です"
                         "（監査担当は閲覧のみです）。")


def _in_place_of(actor: Actor, on_behalf: bool) -> bool:
    """The system, or an admin handing on a leaver's hand-offs (people/services.py), acts in the
    place of a hand-off's party; the event still names the actor who did it."""
    return actor.is_system or (on_behalf and actor.has_role(Role.ADMIN))


def check_receiver(actor: Actor, value) -> User:
    """The user a hand-off by `actor` may go to (a login), or Invalid under "to" saying why not."""
    login = v.text(value, "引継ぎ先", max_len=64, field="to")
    user = db.session.scalar(select(User).where(User.login == login))
    if user is None:
        raise Invalid(f"引継ぎ先の利用者「{login}」は登録されていません。", code="unknown_user", field="to")
    if not user.active:
        raise Invalid(f"引継ぎ先の「{user.name}」さんは利用停止中のため、引き継げません。",
                      code="inactive_user", field="to")
    if user.id == actor.id:
        raise Invalid("自分自身には引き継げません。引継ぎ先には別の職員を選んでください。",
                      code="self_transfer", field="to")
    if not may_hold(user):
        reason = ("有効な研修受講の記録がない" if not user.training_current()
                  else "保管を担当できる権限（登録担当・一括利用担当・セキュリティ管理者）がない")
        raise Invalid(f"引継ぎ先の「{user.name}」さんには{reason}ため、引き継げません。",
                      code="receiver_not_allowed", field="to")
    return user


def pending_transfer(item: Item) -> Transfer | None:
    return db.session.scalar(select(Transfer).where(Transfer.item_id == item.id,
                                                    Transfer.status == State.PENDING.value))


def _details(transfer: Transfer) -> dict:
    """What both events of a hand-off step carry (no 個人番号: notes are checked on entry)."""
    return {"transfer": transfer.id, "giver": transfer.giver.login,
            "giver_department": transfer.giver_department.code,
            "receiver": transfer.receiver.login,
            "receiver_department": transfer.receiver_department.code,
            "note": transfer.note}


def request_transfer(actor: Actor, code: str, to, note=None, *, on_behalf: bool = False) -> Transfer:
    """The holder hands an item over; it is in_transfer, and still his, until the receiver accepts.
    `on_behalf`: an admin hands on the item of a person leaving the role, in the holder's name."""
    with db.transaction() as session:
        _require_custody_role(actor, "引継ぎ")
        item = _fresh_item(code)
        in_place = _in_place_of(actor, on_behalf)
        if not in_place and item.holder_id != actor.id:
            if not visible_to(actor, item):
                raise Forbidden(f"{describe(item)}を表示する権限がありません。")
            raise Forbidden(f"{describe(item)}の保管者は「{item.holder.name}」さんです。"
                            "引継ぎは現在の保管者だけが行えます。", code="not_holder")
        if item.status == State.IN_TRANSFER:
            current = pending_transfer(item)
            whom = f"「{current.receiver.name}」さんへの" if current else ""
            raise Conflict(f"{describe(item)}は既に{whom}引継ぎ中です（受領待ち）。"
                           "受領・差戻しされるか、引継ぎを取り消してから操作してください。",
                           code="transfer_pending")
        if not states.can(item.kind, item.status, State.IN_TRANSFER):
            raise InvalidTransition(states.refusal_message(item.state_kind, item.code, item.status,
                                                           State.IN_TRANSFER),
                                    current_state=item.status)
        errors = v.FieldErrors()  # the receiver and the note are told at once, each beside its field
        receiver = errors.check("to", check_receiver, actor, to)
        note = errors.check("note", _free_text, note, "引継ぎの備考", "note")
        errors.raise_any()
        giver = item.holder if in_place else actor
        transfer = Transfer(item=item, status=states.INITIAL[Kind.TRANSFER].value, giver=giver,
                            giver_department=giver.department, receiver=receiver,
                            receiver_department=receiver.department, note=note,
                            requested_at=utcnow())
        session.add(transfer)
        session.flush()
        details = _details(transfer)
        states.transition(item, State.IN_TRANSFER, actor=actor, event=EventType.TRANSFER_REQUESTED,
                          **details)
        record_event(EventType.TRANSFER_REQUESTED, actor=actor, subject=transfer.audit_subject,
                     item=item.code, **{k: val for k, val in details.items() if k != "transfer"})
        return transfer


def _not_pending(transfer: Transfer, action: str) -> InvalidTransition:
    return InvalidTransition(
        f"この引継ぎ（第{transfer.id}号・{transfer.item.code}）は既に「{states.label(transfer.status)}」"
        f"のため、{action}はできません。", code="transfer_not_pending", current_state=transfer.status)


def _resolve(transfer: Transfer, to: State, *, actor, event: EventType, item_to: State,
             reason: str | None = None, **extra) -> None:
    """Moves the transfer and its item together: two transitions, two events, one transaction."""
    transfer.resolved_at = utcnow()
    transfer.resolved_by = actor.login
    transfer.reason = reason
    details = _details(transfer)
    if reason:
        details["reason"] = reason
    states.transition(transfer.item, item_to, actor=actor, event=event, **details, **extra)
    states.transition(transfer, to, actor=actor, event=event, item=transfer.item.code,
                      **{k: val for k, val in details.items() if k != "transfer"}, **extra)


def accept_transfer(actor: Actor, transfer_id, *, location=None) -> Transfer:
    """Only the named receiver accepts; the item becomes his and his department's."""
    with db.transaction():
        transfer = _fresh_transfer(transfer_id)
        if not actor.is_system and actor.id != transfer.receiver_id:
            raise Forbidden(f"この引継ぎの受領は、引継ぎ先の「{transfer.receiver.name}」さんだけが行えます。",
                            code="not_receiver")
        if transfer.status != State.PENDING:
            raise _not_pending(transfer, "受領")
        receiver = transfer.receiver
        if not may_hold(receiver):
            raise Forbidden("保管を担当できる権限が現在ないため、受領できません。システム管理者に確認してください。",
                            code="receiver_not_allowed")
        location = _free_text(location, "保管場所", "location", max_len=200, multiline=False)
        item = transfer.item
        extra = {"department_before": item.department.code, "department_after": receiver.department.code}
        if location and location != item.location:
            extra.update(location_before=item.location, location_after=location)
            item.location = location
        item.holder = receiver
        item.department = receiver.department
        transfer.receiver_department = receiver.department
        _resolve(transfer, State.ACCEPTED, actor=actor, event=EventType.TRANSFER_ACCEPTED,
                 item_to=State.IN_CUSTODY, **extra)
        return transfer


def reject_transfer(actor: Actor, transfer_id, reason=None, *, on_behalf: bool = False,
                    reason_required: bool = True) -> Transfer:
    """Only the named receiver rejects, with a reason; the item goes back into the giver's custody.
    The JSON API passes reason_required=False: its published contract lets a system send a
    hand-off back without one, and a reason it does send is kept all the same."""
    with db.transaction():
        transfer = _fresh_transfer(transfer_id)
        if not _in_place_of(actor, on_behalf) and actor.id != transfer.receiver_id:
            raise Forbidden(f"この引継ぎの差戻しは、引継ぎ先の「{transfer.receiver.name}」さんだけが行えます。",
                            code="not_receiver")
        if transfer.status != State.PENDING:
            raise _not_pending(transfer, "差戻し")
        # Required, as for a cancelled destruction: the giver gets the item back and has to know why.
        reason = v.text(reason, "差戻しの理由", max_len=NOTE_MAX, field="reason", multiline=True,
                        required=reason_required)
        _resolve(transfer, State.REJECTED, actor=actor, event=EventType.TRANSFER_REJECTED,
                 item_to=State.IN_CUSTODY, reason=reason)
        return transfer


def cancel_transfer(actor: Actor, transfer_id, reason=None, *, on_behalf: bool = False) -> Transfer:
    """The giver takes back a hand-off nobody has accepted yet."""
    with db.transaction():
        transfer = _fresh_transfer(transfer_id)
        if not _in_place_of(actor, on_behalf) and actor.id != transfer.giver_id:
            raise Forbidden(f"この引継ぎを取り消せるのは、引継ぎ元の「{transfer.giver.name}」さんだけです。",
                            code="not_giver")
        if transfer.status != State.PENDING:
            raise _not_pending(transfer, "取消し")
        reason = _free_text(reason, "取消しの理由", "reason")
        _resolve(transfer, State.CANCELLED, actor=actor, event=EventType.TRANSFER_CANCELLED,
                 item_to=State.IN_CUSTODY, reason=reason)
        return transfer


def get_transfer(user, transfer_id) -> Transfer:
    """A hand-off, for its giver, its receiver and whoever may see the item."""
    transfer = _fresh_transfer(transfer_id)
    if isinstance(user, User) and user.id not in (transfer.giver_id, transfer.receiver_id) \
            and not visible_to(user, transfer.item):
        raise Forbidden("この引継ぎを表示する権限がありません。")
    return transfer


def shows_item(user, transfer: Transfer) -> bool:
    """Whether the hand-off, shown to `user`, may carry its item as it is now (status, holder,
    location, label payload): only for one who may see the item itself. A giver whose item has
    since gone to another department keeps the hand-off's own facts, not the item's state."""
    return visible_to(user, transfer.item)


def is_pending_receiver(user, item) -> bool:
    """Lets the named receiver open an item of another department to accept it (scan to accept);
    `item`: an Item or its ledger row (items.services.register_visibility_rule)."""
    if user.is_system or item.status != State.IN_TRANSFER:
        return False
    return db.session.scalar(select(Transfer.id).where(
        Transfer.item_id == item.id, Transfer.status == State.PENDING.value,
        Transfer.receiver_id == user.id)) is not None


def incoming_transfers(user: User, limit: int = 200) -> list[Transfer]:
    return list(db.session.scalars(
        select(Transfer).where(Transfer.receiver_id == user.id, Transfer.status == State.PENDING.value)
        .order_by(Transfer.requested_at, Transfer.id).limit(limit)))


def outgoing_transfers(user: User, limit: int = 200) -> list[Transfer]:
    return list(db.session.scalars(
        select(Transfer).where(Transfer.giver_id == user.id, Transfer.status == State.PENDING.value)
        .order_by(Transfer.requested_at, Transfer.id).limit(limit)))


def recent_transfers(user: User, limit: int = 30) -> list[Transfer]:
    """Hand-offs the user took part in that are finished, newest first."""
    return list(db.session.scalars(
        select(Transfer).where(or_(Transfer.giver_id == user.id, Transfer.receiver_id == user.id),
                               Transfer.status != State.PENDING.value)
        .order_by(Transfer.resolved_at.desc(), Transfer.id.desc()).limit(limit)))


def transfers_of(item: Item) -> list[Transfer]:
    return list(db.session.scalars(select(Transfer).where(Transfer.item_id == item.id)
                                   .order_by(Transfer.requested_at, Transfer.id)))


#: Built once: the picker is on every view of an item by its holder.
_RECEIVERS = (select(User.login, User.name, Department.name.label("department_name"))
              .join(Department, User.department_id == Department.id)
              .where(User.active.is_(True), User.training_valid_until >= bindparam("today"),
                     User.id != bindparam("actor_id"),
                     User.id.in_(select(RoleGrant.user_id)
                                 .where(RoleGrant.role.in_([r.value for r in CUSTODY_ROLES]))))
              .order_by(Department.is_system_owner.desc(), Department.code, User.login)
              .limit(bindparam("limit")))


def eligible_receivers(actor: Actor, limit: int = 1000) -> list:
    """Active users whose training is current, with a custody role, other than the actor, for the picker:
    rows of login, name and department_name, not Users with their role grants, which were a
    quarter of the item page's work."""
    actor_id = actor.id or 0
    return db.session.execute(_RECEIVERS, {"actor_id": actor_id, "limit": limit, "today": today_jst()}).all()


# --- bulk media ---------------------------------------------------------------------------

def _medium(code: str, action: str) -> Item:
    item = _fresh_item(code)
    if item.kind != Kind.MEDIUM:
        raise Conflict(f"{describe(item)}は一括利用媒体ではないため、{action}はできません。"
                       f"{action}できるのは媒体（CD-R・DVD-R・BD-R・MO）だけです。", code="not_a_medium")
    return item


def _require_bulk(actor: Actor, what: str) -> None:
    require_role(actor, Role.BULK_OPERATOR, message=f"媒体の{what}は、市町課の一括利用担当のみが行えます。")
    if not actor.is_system and not actor.department.is_system_owner:
        raise Forbidden(f"媒体の{what}は、市町課の一括利用担当のみが行えます。")


def provide_medium(actor: Actor, code: str, recipient=None, due_back=None) -> Item:
    """Hands a bulk medium to its recipient (提供・移転); it is due back by its due-back date."""
    with db.transaction():
        _require_bulk(actor, "提供")
        item = _medium(code, "提供")
        if not states.can(item.kind, item.status, State.PROVIDED):
            raise InvalidTransition(states.refusal_message(Kind.MEDIUM, item.code, item.status,
                                                           State.PROVIDED), current_state=item.status)
        recipient = _free_text(recipient, "提供先", "recipient", max_len=200, multiline=False) \
            or item.recipient
        if not recipient:
            raise Invalid("提供先を入力してください。", field="recipient")
        today = today_jst()
        new_due = v.a_date(due_back, "返却予定日", required=False, field="due_back")
        if new_due is not None:
            limit = policy.get("medium.max_loan_days")
            if new_due < today:
                raise Invalid("返却予定日に過去の日付は指定できません。", field="due_back")
            if new_due > today + timedelta(days=limit):
                raise Invalid(f"返却予定日は{limit}日以内の日付にしてください（保存期間ポリシー）。",
                              field="due_back")
        elif item.due_back is None or item.due_back < today:
            raise Invalid("登録された返却予定日を過ぎています。新しい返却予定日を指定してください。",
                          code="due_back_passed", field="due_back")
        details = {"recipient": recipient, "due_back": (new_due or item.due_back).isoformat()}
        if recipient != item.recipient:
            details["recipient_before"] = item.recipient
        if new_due is not None and new_due != item.due_back:
            details["due_back_before"] = item.due_back.isoformat() if item.due_back else None
        item.recipient = recipient
        if new_due is not None:
            item.due_back = new_due
        item.provided_at = utcnow()
        item.returned_at = None
        states.transition(item, State.PROVIDED, actor=actor, event=EventType.MEDIUM_PROVIDED, **details)
        return item


def return_medium(actor: Actor, code: str) -> Item:
    """Records a provided medium's return; its retention deadline starts from the return date."""
    with db.transaction():
        _require_bulk(actor, "返却の記録")
        item = _medium(code, "返却の記録")
        if item.status != State.PROVIDED:
            raise InvalidTransition(
                f"{describe(item)}は提供中ではない（現在「{states.label(item.status)}」）ため、"
                "返却を記録できません。返却を記録できるのは提供中の媒体だけです。",
                code="not_provided", current_state=item.status)
        now = utcnow()
        returned_on = to_jst(now).date()
        days = policy.get("medium.retention_days")
        item.returned_at = now
        item.retention_until = returned_on + timedelta(days=days)
        late = (returned_on - item.due_back).days if item.due_back else 0
        states.transition(item, State.RETURNED, actor=actor, event=EventType.MEDIUM_RETURNED,
                          recipient=item.recipient,
                          due_back=item.due_back.isoformat() if item.due_back else None,
                          returned_on=returned_on.isoformat(), days_late=max(late, 0),
                          retention_until=item.retention_until.isoformat())
        for exc in _open_exceptions_of(item, OVERDUE_MEDIUM):
            _close(exc, actor, reason="returned")
        return item


# --- exceptions ---------------------------------------------------------------------------

@dataclass(frozen=True)
class ScanResult:
    as_of: date
    recorded: int
    resolved: int
    open: int


def _open_exceptions_of(item: Item, kind: str) -> list[CustodyException]:
    return list(db.session.scalars(select(CustodyException).where(
        CustodyException.item_id == item.id, CustodyException.kind == kind,
        CustodyException.resolved_at.is_(None))))


def _close(exc: CustodyException, actor, *, reason: str) -> None:
    exc.resolved_at = utcnow()
    record_event(EventType.EXCEPTION_RESOLVED, actor=actor, subject=exc.item.code,
                 exception=exc.id, kind=exc.kind, reason=reason, status=exc.item.status)


def _overdue_media(as_of: date):
    return select(Item).where(Item.kind == Kind.MEDIUM.value, Item.status == State.PROVIDED.value,
                              Item.due_back < as_of)


def _past_retention(as_of: date):
    return select(Item).where(Item.kind.in_([Kind.FORM.value, Kind.MEDIUM.value]),
                              Item.retention_until < as_of,
                              Item.status.not_in([State.AWAITING_DESTRUCTION.value, State.DESTROYED.value]))


#: Findings written per transaction: a first scan over a large ledger must not hold the write
#: lock (and so every registration and hand-off) for more than a moment at a time.
SCAN_BATCH = 200


def _chunks(values: list, size: int):
    for start in range(0, len(values), size):
        yield values[start:start + size]


def scan_exceptions(actor: Actor, as_of: date | None = None) -> ScanResult:
    """Records each newly overdue medium and each item past its retention deadline once, and
    closes the findings whose item has since been returned, sent to destruction or destroyed.

    The candidates are read without the write lock; findings are then written in small
    transactions, each re-checking what is already open, so the scan stays safe to run twice
    (the partial unique index is the last word) and never stalls the people using the app.
    """
    as_of = as_of or today_jst()
    session = db.session
    found: dict[tuple[int, str], date] = {}
    for item_id, deadline in session.execute(_overdue_media(as_of).with_only_columns(Item.id, Item.due_back)):
        found[(item_id, OVERDUE_MEDIUM)] = deadline
    for item_id, deadline in session.execute(_past_retention(as_of).with_only_columns(Item.id, Item.retention_until)):
        found[(item_id, RETENTION_EXPIRED)] = deadline
    open_rows = {(item_id, kind): exc_id for exc_id, item_id, kind in session.execute(
        select(CustodyException.id, CustodyException.item_id, CustodyException.kind)
        .where(CustodyException.resolved_at.is_(None)))}
    session.rollback()
    recorded = resolved = 0
    for chunk in _chunks(sorted(key for key in found if key not in open_rows), SCAN_BATCH):
        with db.transaction() as session:
            ids = {item_id for item_id, _kind in chunk}
            still_open = set(session.execute(
                select(CustodyException.item_id, CustodyException.kind)
                .where(CustodyException.resolved_at.is_(None), CustodyException.item_id.in_(ids))).all())
            items = {item.id: item for item in session.scalars(select(Item).where(Item.id.in_(ids))).unique()}
            for key in chunk:
                if key in still_open:
                    continue
                item, deadline = items[key[0]], found[key]
                exc = CustodyException(kind=key[1], item=item, detected_on=as_of, deadline=deadline)
                session.add(exc)
                session.flush()
                record_event(EventType.EXCEPTION_RECORDED, actor=actor, subject=item.code, exception=exc.id,
                             kind=key[1], deadline=deadline.isoformat(), detected_on=as_of.isoformat(),
                             days_over=(as_of - deadline).days, status=item.status)
                recorded += 1
    stale = [exc_id for key, exc_id in open_rows.items() if key not in found]
    for chunk in _chunks(stale, SCAN_BATCH):
        with db.transaction() as session:
            for exc in session.scalars(select(CustodyException).where(
                    CustodyException.id.in_(chunk), CustodyException.resolved_at.is_(None))):
                _close(exc, actor, reason=exc.item.status)
                resolved += 1
    return ScanResult(as_of, recorded, resolved, len(found))


def scheduled_scan() -> int:
    """The daily job: records what became overdue since the last run."""
    return scan_exceptions(SCHEDULER_ACTOR).recorded


def list_open_exceptions(*, department_id: int | None = None, kind: str | None = None) -> list[CustodyException]:
    """Open findings, by department, kind and deadline (for the exceptions report)."""
    query = (select(CustodyException).join(Item, CustodyException.item_id == Item.id)
             .where(CustodyException.resolved_at.is_(None)))
    if department_id is not None:
        query = query.where(Item.department_id == department_id)
    if kind is not None:
        query = query.where(CustodyException.kind == kind)
    return list(db.session.scalars(query.order_by(Item.department_id, CustodyException.kind,
                                                  CustodyException.deadline, Item.code)))


def exception_label(kind: str) -> str:
    return EXCEPTION_KINDS.get(kind, kind)


@dataclass(frozen=True)
class OverdueSummary:
    as_of: date
    overdue_media: int
    past_retention: int
    open_exceptions: int


def overdue_summary(as_of: date | None = None) -> OverdueSummary:
    """Counts for the 市町課 dashboard, computed live so they are right before the daily scan."""
    as_of = as_of or today_jst()
    count = lambda q: db.session.scalar(select(func.count()).select_from(q.subquery())) or 0  # noqa: E731
    return OverdueSummary(as_of, count(_overdue_media(as_of)), count(_past_retention(as_of)),
                          db.session.scalar(select(func.count(CustodyException.id))
                                            .where(CustodyException.resolved_at.is_(None))) or 0)


def overdue_media(as_of: date | None = None, limit: int = 20) -> list[Item]:
    as_of = as_of or today_jst()
    return list(db.session.scalars(_overdue_media(as_of).order_by(Item.due_back, Item.code).limit(limit)))
