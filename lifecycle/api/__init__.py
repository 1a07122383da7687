"""The JSON API of docs/api.md: bearer tokens, the error JSON, and an OpenAPI document built from the
same declarations that register the routes, so the document cannot miss an endpoint."""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from flask import Blueprint, jsonify, request

from ..errors import BadRequest, Invalid
from ..extensions import csrf
from ..web import authenticate_bearer

bp = Blueprint("api", __name__, url_prefix="/api/v1")

ERROR_SCHEMA = {
    "type": "object",
    "required": ["error"],
    "properties": {"error": {"type": "object", "required": ["code", "message"],
                             "properties": {"code": {"type": "string"},
                                            "message": {"type": "string"},
                                            # every refused field of a 422, with its message
                                            "fields": {"type": "object",
                                                       "additionalProperties": {"type": "string"}}}}},
}


def nullable(schema: dict) -> dict:
    return {**schema, "nullable": True}


def record(properties: dict, *, optional: tuple[str, ...] = ()) -> dict:
    """A response object whose every key is listed: present unless named in `optional`, and no
    others, so that the fuzz (tests/test_api_fuzz.py) notices a field the document does not name."""
    return {"type": "object", "required": [k for k in properties if k not in optional],
            "properties": properties, "additionalProperties": False}


STRING, INTEGER, BOOLEAN = {"type": "string"}, {"type": "integer"}, {"type": "boolean"}
DATE, DATE_TIME = {"type": "string", "format": "date"}, {"type": "string", "format": "date-time"}


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
    body_optional: bool = False


ENDPOINTS: list[Endpoint] = []


def endpoint(rule: str, method: str = "GET", *, summary: str, request: dict | None = None,
             response: dict | None = None, status: int = 200, errors=(), multipart: bool = False,
             query: dict | None = None, public: bool = False, body_optional: bool = False):
    """Registers an API view and its OpenAPI description in one place. `body_optional`: the view
    reads its body with optional_json_body(), so the document must not demand one."""
    def decorator(view):
        ENDPOINTS.append(Endpoint(rule, method, summary, request, response, status, tuple(errors),
                                  multipart, query or {}, public, body_optional))
        bp.add_url_rule(rule, endpoint=view.__name__, view_func=view, methods=[method])
        if request is not None:
            REQUESTS[view.__name__] = request
        if public:
            PUBLIC.add(view.__name__)
        return view
    return decorator


PUBLIC: set[str] = set()
#: The documented request body of each view, by view name (json_body holds bodies to it).
REQUESTS: dict[str, dict] = {}

#: Domain modules under lifecycle/api/ whose routes register on import.
API_MODULES: tuple[str, ...] = ("mynumber", "findings", "items", "destruction", "devices", "custody", "reports", "contractors", "notifications", "people", "terminals", "stocktake", "logreview")


def json_body() -> dict:
    """The request's JSON object, or a 400 in the error format."""
    try:
        data = request.get_json(silent=True)
    except RecursionError:  # the json module's own limit on nesting, not a ValueError
        raise BadRequest("リクエスト本文の JSON の入れ子が深すぎます。", code="malformed_json") from None
    if data is None:
        raise BadRequest("リクエスト本文は JSON（Content-Type: application/json）で送信してください。",
                         code="malformed_json")
    if not isinstance(data, dict):
        raise BadRequest("リクエスト本文は JSON オブジェクトで送信してください。", code="malformed_json")
    if _has_lone_surrogate(data):
        raise BadRequest("リクエスト本文に文字として成り立たない \\u エスケープ（対になっていないサロゲート）が"
                         "含まれています。UTF-8 で表せる文字だけを送信してください。", code="malformed_json")
    _refuse_undocumented_null(data)
    return data


def _refuse_undocumented_null(data: dict) -> None:
    """null only where the document says a field is nullable: a null sent for a documented string
    or flag would otherwise be taken as if the field had been left out, and the caller not told."""
    properties = REQUESTS.get((request.endpoint or "").removeprefix("api."), {}).get("properties", {})
    for name, value in data.items():
        if value is None and name in properties and not properties[name].get("nullable"):
            raise Invalid(f"「{name}」に null は指定できません。値を指定するか、項目ごと省略してください。",
                          code="null_not_allowed", field=name)


def optional_json_body() -> dict:
    """For steps whose fields are all optional: no body at all is an empty object."""
    return json_body() if request.get_data(cache=True) else {}


_SURROGATE = re.compile("[\ud800-\udfff]")


def _has_lone_surrogate(data) -> bool:
    """JSON lets "\\ud800" through as a string that no encoder or database accepts (I-JSON
    forbids it). A loop, not recursion: the body may nest as deep as the parser allows."""
    pending = [data]
    while pending:
        value = pending.pop()
        if isinstance(value, str):
            if _SURROGATE.search(value):
                return True
        elif isinstance(value, dict):
            pending.extend(value.keys())
            pending.extend(value.values())
        elif isinstance(value, list):
            pending.extend(value)
    return False


def query_int(name: str, default: int, maximum: int) -> int:
    """A page-style query parameter: absent or empty is the default; anything but an integer
    from 1 to `maximum` is a 422, never a silent substitute the caller did not ask for."""
    raw = request.args.get(name)
    if raw in (None, ""):
        return default
    if not re.fullmatch(r"-?[0-9]{1,18}", raw):  # int() would also take "1_0", " 7" and "٧"
        raise Invalid(f"{name} は整数で指定してください。", field=name)
    value = int(raw)
    if value < 1 or value > maximum:
        raise Invalid(f"{name} は1から{maximum}までの整数で指定してください。", field=name)
    return value


@bp.before_request
def authenticate():
    if request.endpoint and request.endpoint.removeprefix("api.") in PUBLIC:
        return None
    authenticate_bearer()
    return None


def init_app(app) -> None:
    from . import audit, openapi  # noqa: F401  (their routes register on import)
    for name in API_MODULES:
        __import__(f"lifecycle.api.{name}")
    csrf.exempt(bp)  # bearer tokens only, no cookies: nothing for a cross-site form to ride on
    app.register_blueprint(bp)


def ok(payload, status: int = 200):
    return jsonify(payload), status
