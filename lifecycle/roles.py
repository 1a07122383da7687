from enum import StrEnum


class Role(StrEnum):
    REGISTRAR = "registrar"
    BULK_OPERATOR = "bulk_operator"
    SECURITY_MANAGER = "security_manager"
    AUDITOR = "auditor"
    ADMIN = "admin"


ROLE_LABELS = {
    Role.REGISTRAR: "登録担当",
    Role.BULK_OPERATOR: "一括利用担当",
    Role.SECURITY_MANAGER: "セキュリティ管理者",
    Role.AUDITOR: "監査担当",
    Role.ADMIN: "システム管理者",
}


def role_label(value: str) -> str:
    try:
        return ROLE_LABELS[Role(value)]
    except ValueError:
        return value
