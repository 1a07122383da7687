"""Signed-in users come from a per-process snapshot (auth/cache.py); these tests show that no
change to a user or their grants is ever served stale, over the API or in a browser session."""
from datetime import date

from sqlalchemy import inspect, select, update
from sqlalchemy.orm import Session

from lifecycle.audit.models import AuditEvent
from lifecycle.auth import cache, services
from lifecycle.auth.models import RoleGrant, User
from lifecycle.clock import today_jst
from lifecycle.extensions import db
from tests.factories import form


def _version(login: str) -> int:
    with db.engine.connect() as connection:  # outside the test's session: the committed value
        return connection.execute(select(User.auth_version).where(User.login == login)).scalar()


def _roles(client) -> list[str]:
    response = client.get("/api/v1/me")
    assert response.status_code == 200, response.get_json()
    return response.get_json()["roles"]


def test_every_change_to_a_user_or_their_grants_bumps_the_version(world):
    admin = world["admin"]
    before, bystander = _version("auditor"), _version("registrar")
    services.grant_role(admin, "auditor", "registrar")
    after_grant = _version("auditor")
    services.revoke_role(admin, "auditor", "registrar")
    after_revoke = _version("auditor")
    services.record_training(admin, "auditor", date(2026, 5, 1))
    after_training = _version("auditor")
    services.set_active(admin, "auditor", False)
    after_deactivation = _version("auditor")
    assert before < after_grant < after_revoke < after_training < after_deactivation
    assert _version("registrar") == bystander


def test_a_grant_added_through_any_session_bumps_the_version(world):
    user_id, before = world["auditor"].id, _version("auditor")
    with Session(db.engine) as other:  # another process would use its own session like this
        other.add(RoleGrant(user_id=user_id, role="registrar", granted_by="system:test"))
        other.commit()
    assert _version("auditor") == before + 1


def test_revoked_role_is_refused_on_the_next_api_request(api, world):
    auditor = api("auditor")
    assert _roles(auditor) == ["auditor"]
    assert auditor.get("/api/v1/audit/verify").status_code == 200
    services.revoke_role(world["admin"], "auditor", "auditor")
    assert _roles(auditor) == []
    assert auditor.get("/api/v1/audit/verify").status_code == 403
    services.grant_role(world["admin"], "auditor", "auditor")
    assert _roles(auditor) == ["auditor"]


def test_removed_training_and_deactivation_take_effect_at_once(api, world):
    auditor = api("auditor")
    assert _roles(auditor) == ["auditor"]
    services.record_training(world["admin"], "auditor", None)
    assert _roles(auditor) == []
    services.record_training(world["admin"], "auditor", date(2026, 5, 1))
    assert _roles(auditor) == ["auditor"]
    services.set_active(world["admin"], "auditor", False)
    assert auditor.get("/api/v1/me").status_code == 401


def test_revoked_token_is_refused_even_with_the_user_cached(api, world):
    from lifecycle.auth.models import ApiToken
    from lifecycle.clock import utcnow

    auditor = api("auditor")
    assert auditor.get("/api/v1/me").status_code == 200
    with db.transaction() as session:
        session.execute(update(ApiToken).values(revoked_at=utcnow()))
    assert auditor.get("/api/v1/me").status_code == 401


def test_browser_session_sees_a_revoked_role_on_the_next_page(client, login, world):
    login("auditor")
    assert client.get("/audit/verify").status_code == 200
    services.revoke_role(world["admin"], "auditor", "auditor")
    assert client.get("/audit/verify").status_code == 403


def test_the_shared_snapshot_is_never_attached_to_a_session(api, world):
    auditor = api("auditor")
    auditor.get("/api/v1/me")
    snapshot = cache._cache._snapshots[world["auditor"].id][2]
    assert inspect(snapshot).detached
    auditor.get("/api/v1/me")
    assert inspect(snapshot).detached
    assert cache._cache._snapshots[world["auditor"].id][2] is snapshot  # reused, not reloaded


def test_reads_use_the_snapshot_and_writes_a_copy_of_it(app, api, world):
    """Item views read with the shared snapshot itself (web.current_reader); a refusal, a forged
    label and a registration write audit events and items, which must name the user without
    ever attaching the snapshot that every request of the process shares."""
    code = form(world["registrar"]).code
    signer = app.extensions["label_signer"]
    registrar2, bulk = api("registrar2"), api("bulk")
    assert registrar2.get(f"/api/v1/items/{code}").status_code == 403  # audited as a refusal
    assert registrar2.get(f"/api/v1/scan/{code}.AAAAAAAAAAAAAAAA").status_code == 404  # forged: audited
    assert bulk.get(f"/api/v1/items/{code}").status_code == 200
    assert bulk.get(f"/api/v1/scan/{signer.payload(code)}").status_code == 200
    assert bulk.get("/api/v1/items?kind=form").status_code == 200
    created = bulk.post("/api/v1/items", json={"kind": "medium", "title": "提供データ", "business": "passport",
                                               "media_type": "CD-R", "record_count": 1, "recipient": "教育委員会",
                                               "encrypted": True, "due_back": today_jst().isoformat()})
    assert created.status_code == 201 and created.get_json()["holder"]["login"] == "bulk"
    for login in ("registrar2", "bulk"):
        assert inspect(cache._cache._snapshots[world[login].id][2]).detached
    db.session.rollback()
    actors = db.session.scalars(select(AuditEvent.actor).where(AuditEvent.type.in_(
        ("access:denied", "label:forged", "item:registered")))).all()
    assert {"registrar2", "bulk"} <= set(actors)


def test_pages_that_only_show_use_the_snapshot_and_writes_from_pages_a_copy(app, client, login, world):
    """A GET page's current_user is the shared snapshot; a page that writes on GET (a label PDF,
    a refused page) and a POST name the user in their events without ever attaching it."""
    code = form(world["registrar"]).code
    login("registrar")
    from flask import g
    assert client.get(f"/items/{code}").status_code == 200
    snapshot = cache._cache._snapshots[world["registrar"].id][2]
    assert g._login_user is snapshot  # the fixture's app context keeps the last request's user
    assert client.get(f"/labels/{code}.pdf").status_code == 200  # label:printed, on GET
    assert client.get("/audit/verify").status_code == 403  # access:denied, on GET
    assert client.post(f"/custody/items/{code}/transfer", data={"to": "registrar2", "note": ""}).status_code == 302
    assert g._login_user is not snapshot and not cache.is_shared(g._login_user)
    assert inspect(snapshot).detached and cache._cache._snapshots[world["registrar"].id][2] is snapshot
    db.session.rollback()
    actors = db.session.execute(select(AuditEvent.type, AuditEvent.actor).where(AuditEvent.type.in_(
        ("label:printed", "access:denied", "custody:transfer_requested")))).all()
    assert {("label:printed", "registrar"), ("access:denied", "registrar")} <= set(actors)
    assert any(t.startswith("custody:") and a == "registrar" for t, a in actors)


def test_a_shared_snapshot_refuses_to_join_a_session(app, world):
    import pytest
    snapshot = cache.user_by_id(world["auditor"].id, copy=False)
    assert cache.is_shared(snapshot) and not cache.is_shared(cache.attach(snapshot))
    with pytest.raises(RuntimeError, match="shared user snapshot"):
        db.session.add(snapshot)
    assert inspect(snapshot).detached


def _user_reads(statements: list[str]) -> list[str]:
    return [s for s in statements if "FROM users" in s and "auth_version" not in s.split("FROM")[0]
            or "FROM role_grants" in s or "FROM departments" in s]


def test_a_write_reuses_the_attached_user_without_reloading_it(app, world):
    from sqlalchemy import event

    from lifecycle.auth.roles import Role

    user = cache.user_by_id(world["auditor"].id)
    statements: list[str] = []
    listener = lambda _c, _cur, statement, *_a: statements.append(statement)  # noqa: E731
    event.listen(db.engine, "before_cursor_execute", listener)
    try:
        with db.transaction():
            assert user.has_role(Role.AUDITOR) and user.department.code
    finally:
        event.remove(db.engine, "before_cursor_execute", listener)
    assert any("auth_version" in s for s in statements)  # checked under the write lock
    assert _user_reads(statements) == []


def test_a_role_revoked_just_before_a_write_is_seen_inside_it(app, world):
    from lifecycle.auth.roles import Role

    user = cache.user_by_id(world["auditor"].id)  # the request's user, attached at its start
    assert user.has_role(Role.AUDITOR)
    with Session(db.engine) as other:  # meanwhile an administrator revokes the role elsewhere
        grant = other.scalars(select(RoleGrant).where(RoleGrant.user_id == user.id)).one()
        other.delete(grant)
        other.commit()
    with db.transaction():
        assert not user.has_role(Role.AUDITOR)
