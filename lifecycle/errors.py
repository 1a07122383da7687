"""Domain errors: a machine code, a Japanese sentence for a person, and an HTTP status."""
from __future__ import annotations


class DomainError(Exception):
    status = 400
    code = "bad_request"

    def __init__(self, message: str, code: str | None = None, **extra) -> None:
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        self.extra = extra

    def to_json(self) -> dict:
        body = {"code": self.code, "message": self.message}
        return {"error": body, **self.extra}


class BadRequest(DomainError):
    status, code = 400, "bad_request"


class Unauthenticated(DomainError):
    status, code = 401, "unauthenticated"


class Forbidden(DomainError):
    status, code = 403, "forbidden"


class NotFound(DomainError):
    status, code = 404, "not_found"


class InvalidTransition(DomainError):
    status, code = 409, "invalid_transition"


class Conflict(DomainError):
    status, code = 409, "conflict"


class Gone(DomainError):
    status, code = 410, "gone"


class TooLarge(DomainError):
    status, code = 413, "too_large"


class Invalid(DomainError):
    """Valid syntax, unacceptable value (HTTP 422)."""
    status, code = 422, "invalid"

    def __init__(self, message: str, code: str | None = None, field: str | None = None,
                 fields: dict[str, str] | None = None, **extra):
        super().__init__(message, code, **extra)
        self.field = field
        #: Every refused field with its message (validation.FieldErrors); else the one field.
        self.fields = fields if fields is not None else ({field: message} if field else {})

    def to_json(self) -> dict:
        body = super().to_json()
        if self.fields:
            body["error"]["fields"] = self.fields
        return body


class PolicyViolation(Invalid):
    code = "policy_violation"


class AuditLogFault(DomainError):
    """The audit log cannot do what an action needs of it (its head row is gone, or a signed
    checkpoint could not be written outside the database): an administrator has to look."""
    status, code = 500, "audit_log_fault"
