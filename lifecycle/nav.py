"""The navigation bar: entries appear only for the roles that may use them and only when the
endpoint exists, so a domain package switches its menu entry on by being wired in."""
from __future__ import annotations

from dataclasses import dataclass

from .roles import Role

EVERYONE = frozenset(Role)


@dataclass(frozen=True)
class NavEntry:
    endpoint: str
    label: str
    roles: frozenset
    args: tuple = ()


NAV = (
    NavEntry("home.dashboard", "ホーム", EVERYONE),
    NavEntry("items.ledger", "帳票管理簿", EVERYONE, (("kind", "form"),)),
    NavEntry("items.ledger", "媒体管理簿", EVERYONE, (("kind", "medium"),)),
    NavEntry("items.ledger", "機器管理簿", EVERYONE, (("kind", "device"),)),
    NavEntry("custody.inbox", "引継ぎ", frozenset({Role.REGISTRAR, Role.BULK_OPERATOR, Role.SECURITY_MANAGER, Role.ADMIN})),
    NavEntry("destruction.index", "廃棄・消去", frozenset({Role.REGISTRAR, Role.BULK_OPERATOR, Role.SECURITY_MANAGER, Role.AUDITOR, Role.ADMIN})),
    NavEntry("devices.index", "リース機器", frozenset({Role.ADMIN, Role.BULK_OPERATOR, Role.SECURITY_MANAGER, Role.AUDITOR})),
    NavEntry("contractors.index", "委託先", frozenset({Role.ADMIN, Role.SECURITY_MANAGER, Role.AUDITOR, Role.BULK_OPERATOR})),
    NavEntry("mynumber.index", "個人番号の一時保存", frozenset({Role.BULK_OPERATOR, Role.SECURITY_MANAGER, Role.AUDITOR, Role.ADMIN})),
    NavEntry("terminals.book", "端末の使用伺い", EVERYONE),
    NavEntry("stocktake.index", "棚卸", frozenset({Role.REGISTRAR, Role.BULK_OPERATOR, Role.SECURITY_MANAGER, Role.AUDITOR, Role.ADMIN})),
    NavEntry("findings.index", "指摘事項", EVERYONE),
    NavEntry("selfinspection.index", "自己点検", EVERYONE),
    NavEntry("reports.index", "帳票出力・統計", frozenset({Role.AUDITOR, Role.ADMIN, Role.SECURITY_MANAGER, Role.REGISTRAR})),
    NavEntry("audit.events", "監査ログ", frozenset({Role.AUDITOR, Role.ADMIN})),
    NavEntry("logreview.index", "アクセスログ検証", frozenset({Role.AUDITOR, Role.ADMIN, Role.SECURITY_MANAGER})),
    NavEntry("people.rights_review", "権限の棚卸", frozenset({Role.SECURITY_MANAGER, Role.ADMIN})),
    NavEntry("admin.users", "管理", frozenset({Role.ADMIN})),
)


def entries_for(user, view_functions) -> list[tuple[str, dict, str]]:
    roles = user.effective_roles if user is not None else set()
    return [(e.endpoint, dict(e.args), e.label) for e in NAV
            if e.endpoint in view_functions and roles.intersection(e.roles)]
