"""People around the items: 異動 and leaving the role without orphaned items, the second admin's
approval of a bulk_operator grant, and the yearly rights review (権限の棚卸).

Every write runs in db.transaction(): writers are serialised there, so what a service re-reads
inside it (what a person holds, whether a request is still pending) is what it decides on.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import or_, select

from .. import states, validation as v
from ..actors import Actor
from ..audit.events import EventType
from ..audit.services import record_event
from ..auth import services as auth
from ..auth.models import Department, RoleGrant, User
from ..clock import fiscal_year, jst_day_start_utc, today_jst, utcnow
from ..custody import services as custody
from ..custody.models import Transfer
from ..db import row_id
from ..destruction.models import DestructionBatch
from ..errors import Conflict, Forbidden, Invalid, NotFound
from ..extensions import db
from ..items.models import Item
from ..policy import services as policy
from ..roles import ROLE_LABELS, Role
from ..states import FINAL, Kind, State
from .models import GrantRequest, RoleConfirmation

REASON_MAX = 500


# --- what a person still answers for --------------------------------------------------------

@dataclass
class Obligations:
    """Everything that must be handed on before a person leaves the role or the department."""
    items: list[Item] = field(default_factory=list)
    incoming: list[Transfer] = field(default_factory=list)
    outgoing: list[Transfer] = field(default_factory=list)
    batches: list[DestructionBatch] = field(default_factory=list)

    @property
    def codes(self) -> list[str]:
        """Item and batch codes, for the refusal (409 holds_items)."""
        codes = [i.code for i in self.items]
        codes += [t.item.code for t in self.incoming if t.item.code not in codes]
        return codes + [b.code for b in self.batches]

    def __bool__(self) -> bool:
        return bool(self.items or self.incoming or self.outgoing or self.batches)

    @property
    def handable(self) -> list[Item]:
        """Held items that a hand-off can move now (not already in transfer)."""
        return [i for i in self.items if states.can(i.state_kind, i.status, State.IN_TRANSFER)]

    @property
    def not_handable(self) -> list[Item]:
        return [i for i in self.items
                if i.status != State.IN_TRANSFER and not states.can(i.state_kind, i.status, State.IN_TRANSFER)]


def obligations_of(user: User) -> Obligations:
    """Items the user holds (not finished), hand-offs pending to or from him, and destruction
    batches he created that still wait for their witness."""
    items = list(db.session.scalars(select(Item).where(
        Item.holder_id == user.id, Item.status.not_in([s.value for s in FINAL])).order_by(Item.code)))
    pending = list(db.session.scalars(select(Transfer).where(
        Transfer.status == State.PENDING.value,
        or_(Transfer.giver_id == user.id, Transfer.receiver_id == user.id)).order_by(Transfer.id)))
    batches = list(db.session.scalars(select(DestructionBatch).where(
        DestructionBatch.created_by_id == user.id,
        DestructionBatch.status == State.AWAITING_WITNESS.value).order_by(DestructionBatch.id)))
    return Obligations(items=items, incoming=[t for t in pending if t.receiver_id == user.id],
                       outgoing=[t for t in pending if t.giver_id == user.id], batches=batches)


def _require_admin_on(actor: Actor, user: User) -> None:
    auth.require_role(actor, Role.ADMIN, message="異動・退職の記録はシステム管理者のみが行えます。")
    if actor.id == user.id:
        raise Forbidden("自分自身の異動・退職は記録できません。別のシステム管理者に依頼してください。",
                        code="self_grant")


def _effective_on(value) -> date:
    value = v.a_date(value, "発令日", field="effective_on")
    if value > today_jst():
        # Recording a future 異動 would need a job to apply it on the day; it is recorded on or after it.
        raise Invalid("発令日が未来の日付です。異動・退職は発令日以降に記録してください。", field="effective_on")
    return value


def _reason(value, *, required: bool) -> str | None:
    return v.text(value, "理由", max_len=REASON_MAX, required=required, field="reason", multiline=True)


def _blocked(user: User, found: Obligations, what: str) -> Conflict:
    return Conflict(f"「{user.name}」さんは保管中の物・受領待ちの引継ぎ・立会い待ちの廃棄記録が"
                    f"{len(found.codes)}件あるため、{what}を記録できません。先にすべて引き継いでください: "
                    + "、".join(found.codes), code="holds_items", items=found.codes)


def hand_off_all(actor: Actor, login: str, to, note=None) -> list[Transfer]:
    """An admin hands every item a leaver holds to one named receiver, who accepts each as usual;
    hand-offs already pending stay as they are. All or nothing."""
    with db.transaction():
        user = auth.get_user(login)
        _require_admin_on(actor, user)
        found = obligations_of(user)
        if not found.handable:
            raise Conflict(f"「{user.name}」さんには、今引き継げる保管中の物がありません。", code="nothing_to_hand_off")
        errors = v.FieldErrors()  # the receiver and the note are told at once, each beside its field
        if isinstance(to, str) and to.strip() == user.login:
            errors.refuse("to", Invalid(f"引継ぎ先には「{user.name}」さん以外の職員を選んでください。",
                                        code="self_transfer", field="to"))
        else:
            errors.check("to", custody.check_receiver, actor, to)
        note = errors.check("note", v.text, note, "引継ぎの備考", max_len=custody.NOTE_MAX, required=False,
                            field="note", multiline=True)
        errors.raise_any()
        note = note or f"{user.name}さんの異動・退職に伴う一括引継ぎ"
        return [custody.request_transfer(actor, item.code, to, note, on_behalf=True) for item in found.handable]


def department_security_manager(department: Department, *, besides: User) -> User | None:
    """The department's security manager who answers for a forced leaver's items: an active one
    with an effective role, other than the leaver (the first by login, so the choice is stable)."""
    candidates = db.session.scalars(
        select(User).join(RoleGrant, RoleGrant.user_id == User.id)
        .where(User.department_id == department.id, User.active.is_(True), User.id != besides.id,
               RoleGrant.role == Role.SECURITY_MANAGER.value).order_by(User.login))
    return next((u for u in candidates if u.has_role(Role.SECURITY_MANAGER)), None)


def leave(actor: Actor, login: str, effective_on, reason=None, *, force: bool = False) -> User:
    """退職・担当替え: the person's roles end and the account is closed. Refused while he holds
    items, has hand-offs pending or a batch awaiting its witness (409 holds_items), unless an
    admin forces it with a reason: then pending hand-offs are withdrawn and every item goes to
    the department's security manager, 所在確認待ち where its state allows."""
    with db.transaction():
        user = auth.get_user(login)
        _require_admin_on(actor, user)
        if not user.active:
            raise Conflict(f"「{user.name}」さんは既に利用停止中です。", code="inactive_user")
        errors = v.FieldErrors()
        effective = errors.check("effective_on", _effective_on, effective_on)
        reason = errors.check("reason", _reason, reason, required=force)
        errors.raise_any()
        found = obligations_of(user)
        moved: list[str] = []
        if found and not force:
            raise _blocked(user, found, "退職・担当替え")
        if found:
            moved = _force_out(actor, user, found, reason)
        roles = sorted(r.value for r in user.granted_roles)
        user.grants.clear()
        for request in _pending_requests(user):
            states.transition(request, State.CANCELLED, actor=actor, event=EventType.GRANT_REQUEST_CANCELLED,
                              role=Role(request.role).value, grant_request=request.id,
                              requested_by=request.requested_by, reason="退職・担当替え")
            request.decided_by, request.decided_at = actor.login, utcnow()
        user.active = False
        user.end_sessions()
        db.session.flush()
        record_event(EventType.USER_LEFT, actor=actor, subject=f"user:{user.login}",
                     department=user.department.code, effective_on=effective.isoformat(), reason=reason,
                     forced=bool(found), items=moved, roles=roles,
                     handoffs=len(found.incoming) + len(found.outgoing))
        return user


def _force_out(actor: Actor, user: User, found: Obligations, reason: str) -> list[str]:
    """Withdraws the leaver's pending hand-offs and puts every item he answered for under his
    department's security manager. Returns the codes of the items moved."""
    manager = department_security_manager(user.department, besides=user)
    if manager is None:
        raise Conflict(f"{user.department.name}に、引き受けるセキュリティ管理者（有効な権限のある別の職員）が"
                       "いません。先にセキュリティ管理者を置いてから記録してください。",
                       code="no_security_manager")
    why = f"保管者の強制離任（{user.name}）: {reason}"[:REASON_MAX]
    for transfer in found.incoming:  # back to its giver, who still holds it
        custody.reject_transfer(actor, transfer.id, why, on_behalf=True)
    for transfer in found.outgoing:  # back to the leaver first, then to the security manager below
        custody.cancel_transfer(actor, transfer.id, why, on_behalf=True)
    items = list(db.session.scalars(select(Item).where(
        Item.holder_id == user.id, Item.status.not_in([s.value for s in FINAL])).order_by(Item.code)))
    for item in items:
        details = {"holder_before": user.login, "holder_after": manager.login, "reason": why}
        item.holder = manager
        item.department = manager.department
        if states.can(item.state_kind, item.status, State.CUSTODY_UNCONFIRMED):
            states.transition(item, State.CUSTODY_UNCONFIRMED, actor=actor, event=EventType.CUSTODY_UNCONFIRMED,
                              **details)
        else:  # provided, awaiting destruction, a device in service: the state stays, the person changes
            record_event(EventType.CUSTODY_REASSIGNED, actor=actor, subject=item.audit_subject,
                         status=item.status, **details)
    return [i.code for i in items]


def confirm_custody(actor: Actor, code: str, location=None, note=None) -> Item:
    """The security manager now holding a forced leaver's item confirms where it is and keeps it."""
    with db.transaction():
        item = _fresh_item(code)
        if not actor.is_system and item.holder_id != actor.id:
            raise Forbidden(f"{item.code}の所在確認は、引き受けた「{item.holder.name}」さんが行います。",
                            code="not_holder")
        errors = v.FieldErrors()
        location = errors.check("location", v.text, location, "保管場所", max_len=200, required=False,
                                field="location")
        note = errors.check("note", v.text, note, "備考", max_len=REASON_MAX, required=False, field="note",
                            multiline=True)
        errors.raise_any()
        details = {"note": note}
        if location and location != item.location:
            details.update(location_before=item.location, location_after=location)
            item.location = location
        states.transition(item, State.IN_CUSTODY, actor=actor, event=EventType.CUSTODY_CONFIRMED, **details)
        return item


def _fresh_item(code: str) -> Item:
    item = db.session.scalar(select(Item).where(Item.code == str(code or "")[:32]))
    if item is None:
        raise NotFound(f"管理番号「{code}」は登録されていません。", code="unknown_item")
    db.session.refresh(item)
    return item


def unconfirmed_items(user: User | None = None) -> list[Item]:
    """Items 所在確認待ち (of one holder, or all of them), oldest code first."""
    query = select(Item).where(Item.status == State.CUSTODY_UNCONFIRMED.value).order_by(Item.code)
    if user is not None:
        query = query.where(Item.holder_id == user.id)
    return list(db.session.scalars(query))


def _department(value) -> Department:
    return auth.get_department(v.text(value, "異動先の所属", max_len=32, field="department"))


def change_department(actor: Actor, login: str, department_code, effective_on, reason=None) -> User:
    """異動: the person moves to another 所属 once nothing is left in his hands; bulk_operator,
    which only 市町課 staff may hold, ends when he leaves 市町課."""
    with db.transaction():
        user = auth.get_user(login)
        _require_admin_on(actor, user)
        errors = v.FieldErrors()
        department = errors.check("department", _department, department_code)
        effective = errors.check("effective_on", _effective_on, effective_on)
        reason = errors.check("reason", _reason, reason, required=False)
        errors.raise_any()
        if department.id == user.department_id:
            raise Invalid(f"「{user.name}」さんは既に{department.name}の所属です。", field="department")
        found = obligations_of(user)
        if found:
            raise _blocked(user, found, "異動")
        before = user.department
        dropped = []
        if not department.is_system_owner and Role.BULK_OPERATOR in user.granted_roles:
            user.grants[:] = [g for g in user.grants if Role(g.role) != Role.BULK_OPERATOR]
            dropped.append(Role.BULK_OPERATOR.value)
        user.department = department
        user.end_sessions()  # his pages and department change with him
        db.session.flush()
        record_event(EventType.USER_TRANSFERRED, actor=actor, subject=f"user:{user.login}",
                     department_before=before.code, department_after=department.code,
                     effective_on=effective.isoformat(), reason=reason, roles=dropped)
        return user


# --- bulk_operator: request → a second admin's approval -------------------------------------

def _pending_requests(user: User) -> list[GrantRequest]:
    return list(db.session.scalars(select(GrantRequest).where(
        GrantRequest.user_id == user.id, GrantRequest.status == State.PENDING.value)))


def grant_or_request(actor: Actor, login: str, role, reason=None) -> GrantRequest | None:
    """The admin's grant: roles that need a second admin become a request, the others are granted."""
    parsed = _role(role)
    if parsed in auth.NEEDS_SECOND_ADMIN and not actor.is_system:
        return request_grant(actor, login, parsed, reason)
    auth.grant_role(actor, login, parsed)
    return None


def _role(value) -> Role:
    if value in (None, ""):
        raise Invalid("権限を選んでください。", code="unknown_role", field="role")
    try:
        return Role(value)
    except ValueError:
        raise Invalid(f"権限「{value}」はありません。", code="unknown_role", field="role") from None


def request_grant(actor: Actor, login: str, role, reason=None) -> GrantRequest:
    """First half of a grant that needs two admins; nothing is granted until another approves."""
    with db.transaction() as session:
        user = auth.get_user(login)
        errors = v.FieldErrors()  # the role and the reason are told at once, each beside its field
        role = errors.check("role", _role, role)
        if role is not None:
            # A rule of the grant refused in words (bulk_operator outside 市町課) is told beside the
            # role; one of right or state (not an admin, oneself, already granted) stops here.
            errors.check("role", _check_request, actor, user, role)
        reason = errors.check("reason", _reason, reason, required=False)
        errors.raise_any()
        if any(Role(r.role) == role for r in _pending_requests(user)):
            raise Conflict(f"「{user.name}」さんへの「{ROLE_LABELS[role]}」の付与は既に承認待ちです。",
                           code="request_pending")
        request = GrantRequest(user_id=user.id, role=role, status=states.INITIAL[Kind.GRANT_REQUEST].value,
                               reason=reason, requested_by_id=actor.id, requested_by=actor.login,
                               requested_at=utcnow())
        session.add(request)
        session.flush()
        record_event(EventType.GRANT_REQUESTED, actor=actor, subject=f"user:{user.login}", role=role.value,
                     grant_request=request.id, reason=reason)
        return request


def _check_request(actor: Actor, user: User, role: Role) -> None:
    """The grant's own rules (admin, not oneself, bulk_operator only in 市町課), checked when asked too."""
    auth.check_grant(actor, user, role, approved=True)
    if role in user.granted_roles:
        raise Conflict(f"「{user.name}」さんには既に「{ROLE_LABELS[role]}」の権限があります。", code="duplicate")
    if not user.active:
        raise Conflict(f"「{user.name}」さんは利用停止中です。", code="inactive_user")


def _fresh_request(request_id) -> GrantRequest:
    key = row_id(request_id)
    request = db.session.get(GrantRequest, key, populate_existing=True) if key else None
    if request is None:
        raise NotFound(f"承認依頼 No.{request_id} は見つかりません。", code="unknown_grant_request")
    return request


def _not_pending(request: GrantRequest, action: str) -> Conflict:
    return Conflict(f"この承認依頼（No.{request.id}）は既に「{states.label(request.status)}」のため、{action}できません。",
                    code="request_not_pending", current_state=request.status)


def approve_grant(actor: Actor, request_id) -> GrantRequest:
    """A second admin, neither the requester nor the grantee, approves: the role takes effect."""
    with db.transaction():
        request = _fresh_request(request_id)
        auth.require_role(actor, Role.ADMIN, message="承認はシステム管理者のみが行えます。")
        if request.status != State.PENDING.value:
            raise _not_pending(request, "承認")
        if actor.login == request.requested_by:
            raise Forbidden("承認依頼を出したシステム管理者は、同じ依頼を承認できません。別のシステム管理者が承認します。",
                            code="separation_of_duties")
        user = request.user
        role = Role(request.role)
        auth.add_grant(actor, user, role, approved=True)
        request.decided_by, request.decided_at = actor.login, utcnow()
        states.transition(request, State.APPROVED, actor=actor, event=EventType.GRANT_APPROVED, role=role.value,
                          grant_request=request.id, requested_by=request.requested_by)
        return request


def refuse_grant(actor: Actor, request_id, reason=None) -> GrantRequest:
    """Another admin refuses (with a reason); the requester may withdraw his own request instead."""
    with db.transaction():
        request = _fresh_request(request_id)
        auth.require_role(actor, Role.ADMIN, message="却下・取下げはシステム管理者のみが行えます。")
        if request.status != State.PENDING.value:
            raise _not_pending(request, "却下・取下げ")
        own = actor.login == request.requested_by
        reason = _reason(reason, required=not own)
        request.decided_by, request.decided_at, request.decision_reason = actor.login, utcnow(), reason
        states.transition(request, State.CANCELLED if own else State.REFUSED, actor=actor,
                          event=EventType.GRANT_REQUEST_CANCELLED if own else EventType.GRANT_REFUSED,
                          role=Role(request.role).value, grant_request=request.id,
                          requested_by=request.requested_by, reason=reason)
        return request


def pending_grant_requests(user: User | None = None) -> list[GrantRequest]:
    query = select(GrantRequest).where(GrantRequest.status == State.PENDING.value).order_by(GrantRequest.id)
    if user is not None:
        query = query.where(GrantRequest.user_id == user.id)
    return list(db.session.scalars(query))


def grant_requests_to_approve(actor: Actor) -> list[GrantRequest]:
    """Pending requests this admin may decide: not his own, not for himself."""
    if not actor.has_role(Role.ADMIN):
        return []
    return [r for r in pending_grant_requests() if r.requested_by != actor.login and r.user_id != actor.id]


# --- 権限の棚卸 (yearly rights review) --------------------------------------------------------

CONFIRMED, REVOKED = "confirmed", "revoked"
DECISION_LABELS = {CONFIRMED: "継続", REVOKED: "取消し"}


@dataclass(frozen=True)
class ReviewRow:
    """One role of one person in a department's review of a 年度."""
    user: User
    role: Role
    decision: RoleConfirmation | None


def review_year(day: date | None = None) -> int:
    return fiscal_year(day or today_jst())


def review_deadline(year: int) -> date:
    """The last day of the policy's review month within the 年度 `year`."""
    month = int(policy.get("rights_review.month"))
    calendar_year = year if month >= 4 else year + 1
    following = date(calendar_year + (month == 12), month % 12 + 1, 1)
    return date.fromordinal(following.toordinal() - 1)


def review_rows(department: Department, year: int) -> list[ReviewRow]:
    """Every role held by an active person of the department, with this 年度's decision if any
    (revoked roles no longer held still show, with their decision)."""
    people = list(db.session.scalars(select(User).where(User.department_id == department.id,
                                                        User.active.is_(True)).order_by(User.login)))
    decided = {(c.user_id, Role(c.role)): c for c in db.session.scalars(select(RoleConfirmation).where(
        RoleConfirmation.fiscal_year == year, RoleConfirmation.department_id == department.id))}
    rows = []
    for person in people:
        roles = set(person.granted_roles) | {role for (uid, role) in decided if uid == person.id}
        for role in sorted(roles, key=list(Role).index):
            rows.append(ReviewRow(person, role, decided.get((person.id, role))))
    return rows


def may_review(actor: Actor, department: Department) -> bool:
    """Each department's security manager reviews his own department; admins may stand in."""
    if actor.has_role(Role.ADMIN):
        return True
    return actor.has_role(Role.SECURITY_MANAGER) and actor.department_id == department.id


def review_departments(actor: Actor) -> list[Department]:
    return [d for d in auth.list_departments(active_only=True) if may_review(actor, d)]


def decide_role(actor: Actor, login: str, role, decision: str, reason=None) -> RoleConfirmation:
    """Confirms one role of one person as still needed, or revokes it, for this 年度's review."""
    with db.transaction() as session:
        user = auth.get_user(v.text(login, "ログインID", max_len=64, field="login"))
        role = _role(role)
        if not isinstance(decision, str) or decision not in DECISION_LABELS:
            raise Invalid("「継続」か「取消し」を選んでください。", field="decision")
        if not may_review(actor, user.department):
            raise Forbidden(f"{user.department.name}の権限の棚卸は、その所属のセキュリティ管理者が行います。",
                            code="not_reviewer")
        if actor.id == user.id:
            raise Forbidden("自分自身の権限は確認できません。同じ所属の別のセキュリティ管理者かシステム管理者が確認します。",
                            code="separation_of_duties")
        reason = _reason(reason, required=decision == REVOKED)
        year = review_year()
        if session.scalar(select(RoleConfirmation.id).where(
                RoleConfirmation.fiscal_year == year, RoleConfirmation.user_id == user.id,
                RoleConfirmation.role == role.value)):
            raise Conflict(f"「{user.name}」さんの「{ROLE_LABELS[role]}」は今年度の棚卸で確認済みです。",
                           code="already_reviewed")
        grant = next((g for g in user.grants if Role(g.role) == role), None)
        if grant is None:
            raise Conflict(f"「{user.name}」さんには「{ROLE_LABELS[role]}」の権限がありません。", code="not_granted")
        confirmation = RoleConfirmation(fiscal_year=year, user_id=user.id, role=role,
                                        department_id=user.department_id, decision=decision,
                                        decided_by_id=actor.id, decided_by=actor.login, decided_at=utcnow(),
                                        reason=reason)
        session.add(confirmation)
        details = {"role": role.value, "fiscal_year": year, "department": user.department.code}
        if decision == REVOKED:
            user.grants.remove(grant)
            session.flush()
            record_event(EventType.ROLE_REVIEW_REVOKED, actor=actor, subject=f"user:{user.login}",
                         reason=reason, **details)
        else:
            session.flush()
            record_event(EventType.ROLE_CONFIRMED, actor=actor, subject=f"user:{user.login}", **details)
        return confirmation


@dataclass(frozen=True)
class ReviewProgress:
    department: Department
    total: int
    decided: int

    @property
    def remaining(self) -> int:
        return self.total - self.decided


def review_progress(year: int) -> list[ReviewProgress]:
    """Per department: roles to review and how many are decided, for the admin."""
    return [ReviewProgress(d, len(rows), sum(1 for r in rows if r.decision is not None))
            for d in auth.list_departments(active_only=True) for rows in [review_rows(d, year)] if rows]


def review_start(year: int) -> date:
    """The first day of the review month: roles held since before it are this 年度's to review."""
    deadline = review_deadline(year)
    return deadline.replace(day=1)


def due_rows(department: Department, year: int) -> list[ReviewRow]:
    """Roles of the department still to be decided in this 年度's review: those granted before
    the review month began (a role granted since is new, and next 年度's review is its first)."""
    start = jst_day_start_utc(review_start(year))
    rows = []
    for row in review_rows(department, year):
        if row.decision is not None:
            continue
        grant = next((g for g in row.user.grants if Role(g.role) == row.role), None)
        if grant is not None and grant.granted_at < start:
            rows.append(row)
    return rows


def unreviewed_after_deadline(as_of: date) -> list[ReviewRow]:
    """Roles due in this 年度's review and still not decided once its deadline has passed."""
    year = review_year(as_of)
    if as_of <= review_deadline(year):
        return []
    return [row for d in auth.list_departments(active_only=True) for row in due_rows(d, year)]
