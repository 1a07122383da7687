"""Who acts: a person (a User, signed in or by API token) or the system itself (the CLI, the
scheduler, jobs). Services take an `Actor` and ask it the same questions whichever it is."""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar, TypeAlias

if TYPE_CHECKING:  # a leaf module: the audit log and the scheduler name actors without the auth package
    from .auth.models import User


@dataclass(frozen=True)
class SystemActor:
    """The CLI, the scheduler and jobs act with the operator's authority: every role check passes,
    and what they do is recorded under `login` ("system:…") with a Japanese `name` for people."""
    login: str
    name: str

    is_system: ClassVar[bool] = True
    id: ClassVar[None] = None
    department_id: ClassVar[None] = None
    department: ClassVar[None] = None

    def has_role(self, *_roles) -> bool:
        return True


Actor: TypeAlias = "User | SystemActor"

CLI = SystemActor("system:cli", "システム（コマンド）")
SCHEDULER = SystemActor("system:scheduler", "システム（自動処理）")
DEMO = SystemActor("system:demo", "システム（初期データ）")
AUTH = SystemActor("system:auth", "システム（認証）")

#: Names of the system actors as the audit log records them, for pages and reports.
SYSTEM_NAMES = {actor.login: actor.name for actor in (CLI, SCHEDULER, DEMO, AUTH)}


def system_name(login: str) -> str:
    """The Japanese name of a recorded "system:…" actor (one not listed is still the system)."""
    return SYSTEM_NAMES.get(login, "システム")
