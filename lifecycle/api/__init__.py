"""The JSON API of API.md: bearer tokens, the error JSON, and an OpenAPI document built from the
same declarations that register the routes, so the document cannot miss an endpoint."""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from flask import Blueprint, g, jsonify, request

from ..auth.services import user_for_token
from ..errors import BadRequest, Unauthenticated
from ..extensions import csrf

bp = Blueprint("api", __name__, url_prefix="/api/v1")

ERROR_SCHEMA = {
    "type": "object",
    "required": ["error"],
    "properties": {"error": {"type": "object", "required": ["code", "message"],
                             "properties": {"code": {"type": "string"},
                                            "message": {"type": "string"}}}},
}


@dataclass
class Endpoint:
    rule: str
    method: str
    summary: str
    request: dict | None = None
    response: dict | None = None
    status: int = 200
    errors: tuple = ()
    multipart: bool = False
    query: dict = field(default_factory=dict)
    public: bool = False


ENDPOINTS: list[Endpoint] = []


def endpoint(rule: str, method: str = "GET", *, summary: str, request: dict | None = None,
             response: dict | None = None, status: int = 200, errors=(), multipart: bool = False,
             query: dict | None = None, public: bool = False):
    """Registers an API view and its OpenAPI description in one place."""
    def decorator(view):
        ENDPOINTS.append(Endpoint(rule, method, summary, request, response, status, tuple(errors),
                                  multipart, query or {}, public))
        bp.add_url_rule(rule, endpoint=view.__name__, view_func=view, methods=[method])
        if public:
            PUBLIC.add(view.__name__)
        return view
    return decorator


PUBLIC: set[str] = set()

#: Domain modules under lifecycle/api/ whose routes register on import.
API_MODULES: tuple[str, ...] = ("mynumber", "items", "destruction", "devices", "custody", "reports")


def json_body() -> dict:
    """The request's JSON object, or a 400 in the error format."""
    data = request.get_json(silent=True)
    if data is None:
        raise BadRequest("リクエスト本文は JSON（Content-Type: application/json）で送信してください。",
                         code="malformed_json")
    if not isinstance(data, dict):
        raise BadRequest("リクエスト本文は JSON オブジェクトで送信してください。", code="malformed_json")
    return data


@bp.before_request
def authenticate():
    if request.endpoint and request.endpoint.removeprefix("api.") in PUBLIC:
        return None
    header = request.headers.get("Authorization", "")
    match = re.fullmatch(r"Bearer\s+(\S+)", header.strip())
    user = user_for_token(match.group(1)) if match else None
    if user is None:
        raise Unauthenticated("認証が必要です。Authorization ヘッダーに有効な Bearer トークンを指定してください。")
    g.api_user = user
    return None


def init_app(app) -> None:
    from . import audit, openapi  # noqa: F401  (their routes register on import)
    for name in API_MODULES:
        __import__(f"lifecycle.api.{name}")
    csrf.exempt(bp)  # bearer tokens only, no cookies: nothing for a cross-site form to ride on
    app.register_blueprint(bp)


def ok(payload, status: int = 200):
    return jsonify(payload), status
