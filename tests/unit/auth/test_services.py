from datetime import date

import pytest
from sqlalchemy import select

from lifecycle.actors import SystemActor
from lifecycle.audit.models import AuditEvent
from lifecycle.auth import services
from lifecycle.auth.models import ApiToken, User
from lifecycle.errors import Conflict, Forbidden, Invalid, Unauthenticated
from lifecycle.extensions import db
from lifecycle.roles import Role


def _events(type_):
    return db.session.scalars(select(AuditEvent).where(AuditEvent.type == type_)).all()


def test_user_without_training_has_no_effective_role(world):
    user = services.create_user(SystemActor("system:test", "テスト"), "newbie", "新人 一人", "zeimu", roles=["registrar"])
    assert user.granted_roles == {Role.REGISTRAR}
    assert user.effective_roles == set() and not user.has_role(Role.REGISTRAR)
    services.record_training(world["admin"], "newbie", date(2026, 5, 1))
    assert services.get_user("newbie").has_role(Role.REGISTRAR)


def test_admin_cannot_grant_roles_to_himself(world):
    with pytest.raises(Forbidden) as refused:
        services.grant_role(world["admin"], "admin", "auditor")
    assert refused.value.code == "self_grant"
    assert Role.AUDITOR not in services.get_user("admin").granted_roles


def test_another_admin_may_grant(world):
    services.grant_role(world["admin2"], "admin", "auditor")
    assert Role.AUDITOR in services.get_user("admin").granted_roles
    assert _events("role:granted")[-1].subject == "user:admin"


def test_non_admin_cannot_grant(world):
    with pytest.raises(Forbidden):
        services.grant_role(world["security"], "registrar", "auditor")


def test_bulk_operator_only_in_the_system_owner_department(world):
    with pytest.raises(Invalid) as refused:
        services.grant_role(world["admin"], "registrar", "bulk_operator")
    assert "市町課" in refused.value.message
    with pytest.raises(Invalid):
        services.create_user(SystemActor("system:test", "テスト"), "zeimu2", "税務 三郎", "zeimu", roles=["bulk_operator"],
                             trained_on=date(2026, 4, 1))
    assert db.session.scalar(select(User).where(User.login == "zeimu2")) is None


def test_unknown_role_and_department_are_refused(world):
    with pytest.raises(Invalid):
        services.grant_role(world["admin"], "registrar", "superuser")
    with pytest.raises(Invalid):
        services.create_user(SystemActor("system:test", "テスト"), "x1", "名前", "nope")


def test_revoke_role(world):
    services.revoke_role(world["admin"], "registrar", "registrar")
    assert services.get_user("registrar").granted_roles == set()
    with pytest.raises(Conflict):
        services.revoke_role(world["admin"], "registrar", "registrar")


def test_short_password_refused(world):
    with pytest.raises(Invalid) as refused:
        services.set_password(world["admin"], "registrar", "short")
    assert "12文字以上" in refused.value.message


def _refusal(login: str, password: str) -> tuple:
    with pytest.raises(Unauthenticated) as refused:
        services.authenticate(login, password)
    return refused.value.status, refused.value.code, refused.value.message


def test_lockout_after_five_failures(world):
    for _ in range(5):
        assert _refusal("registrar", "wrong-password!") == (401, "bad_credentials", services.LOGIN_REFUSED)
    assert _events("auth:account_locked")
    # even the right password is refused while locked
    assert _refusal("registrar", "lifecycle-demo-2026") == (401, "bad_credentials", services.LOGIN_REFUSED)
    assert services.get_user("registrar").locked_until is not None


def test_a_locked_login_is_answered_as_an_unknown_one(world, monkeypatch):
    """The fifth failure of a real login and every later try get what an unknown login gets, after
    verifying one password hash as well, so neither the answer nor its time tells a real login."""
    verified, hasher = [], services._hasher

    class CountingHasher:
        def verify(self, *args):
            verified.append(1)
            return hasher.verify(*args)

    monkeypatch.setattr(services, "_hasher", CountingHasher())
    unknown = [_refusal("no-such-login", "wrong-password!") for _ in range(6)]
    real = [_refusal("registrar", "wrong-password!") for _ in range(6)]
    assert set(unknown) == set(real) == {(401, "bad_credentials", services.LOGIN_REFUSED)}
    assert len(verified) == 12  # one hash each, the locked tries too


def test_successful_login_resets_the_counter(world):
    with pytest.raises(Unauthenticated):
        services.authenticate("registrar", "wrong-password!")
    user = services.authenticate("registrar", "lifecycle-demo-2026")
    assert user.failed_logins == 0
    assert _events("auth:login_succeeded")


def test_tokens_are_stored_hashed(world):
    token = services.issue_token(SystemActor("system:test", "テスト"), "auditor")
    stored = db.session.scalars(select(ApiToken.token_hash)).all()
    assert token not in stored and len(stored) == 1
    assert services.user_for_token(token).login == "auditor"
    assert services.user_for_token(token + "x") is None
    assert not any(token in e.data for e in db.session.scalars(select(AuditEvent)))


def test_only_one_system_owner(world):
    with pytest.raises(Conflict):
        services.create_department(SystemActor("system:test", "テスト"), "other", "別の課", system_owner=True)


def test_deactivated_user_cannot_log_in(world):
    services.set_active(world["admin"], "registrar", False)
    with pytest.raises(Unauthenticated):
        services.authenticate("registrar", "lifecycle-demo-2026")
    assert services.get_user("registrar").effective_roles == set()
