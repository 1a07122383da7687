import pytest

from lifecycle.api import ENDPOINTS
from tests import factories


def test_error_format_for_missing_and_bad_token(client, world):
    for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": "Basic abc"}):
        response = client.get("/api/v1/me", headers=headers)
        body = response.get_json()
        assert response.status_code == 401
        assert body["error"]["code"] == "unauthenticated" and "認証" in body["error"]["message"]


def test_404_and_405_are_json_on_the_api(api):
    registrar = api("registrar")
    missing = registrar.get("/api/v1/nothing-here")
    assert missing.status_code == 404 and missing.get_json()["error"]["code"] == "not_found"
    wrong = registrar.post("/api/v1/me", json={})
    assert wrong.status_code == 405 and "メソッド" in wrong.get_json()["error"]["message"]


def test_405_names_the_allowed_methods(api):
    """Found by fuzzing: RFC 9110 requires a 405 to carry Allow, and the JSON error dropped it."""
    response = api("registrar").client.open("/api/v1/audit/checkpoints", method="TRACE",
                                            headers=api("registrar").headers)
    assert response.status_code == 405 and response.get_json()["error"]["code"] == "method_not_allowed"
    assert {m.strip() for m in response.headers["Allow"].split(",")} >= {"GET", "POST"}


def test_500_is_json_without_detail(app, api):
    from lifecycle.api import bp  # noqa: F401

    @app.route("/api/v1/boom-test")
    def boom():
        raise RuntimeError("hidden detail")

    response = api("registrar").get("/api/v1/boom-test")
    assert response.status_code == 500
    assert "hidden detail" not in response.get_data(as_text=True)
    assert response.get_json()["error"]["code"] == "internal_error"


@pytest.mark.parametrize("who,status", [("auditor", 200), ("admin", 200), ("registrar", 403),
                                        ("bulk", 403), ("security", 403)])
def test_audit_verify_authorisation(api, who, status):
    response = api(who).get("/api/v1/audit/verify")
    assert response.status_code == status
    if status == 200:
        body = response.get_json()
        assert body["ok"] is True and body["events"] > 0 and len(body["head"]) == 64
    else:
        assert response.get_json()["error"]["code"] == "forbidden"


def test_me_reports_effective_roles(api):
    body = api("bulk").get("/api/v1/me").get_json()
    assert body["login"] == "bulk" and set(body["roles"]) == {"bulk_operator", "registrar"}


def test_openapi_describes_every_api_route(app, client):
    document = client.get("/api/v1/openapi.json").get_json()
    assert document["openapi"].startswith("3.")
    described = {(path, method) for path, ops in document["paths"].items() for method in ops}
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/v1/") and rule.endpoint.startswith("api."):
            path = rule.rule
            for arg in rule.arguments:
                path = path.replace(f"<{arg}>", "{" + arg + "}")
                for conv in ("int", "string", "path"):
                    path = path.replace(f"<{conv}:{arg}>", "{" + arg + "}")
            for method in rule.methods - {"HEAD", "OPTIONS"}:
                assert (path, method.lower()) in described, (path, method)
    assert len(ENDPOINTS) == sum(len(ops) for ops in document["paths"].values())


def test_oversized_ids_are_404_not_500(api):
    """Found by fuzzing the API from its OpenAPI document (schemathesis)."""
    response = api("security").post("/api/v1/transfers/999999999999999999999999999999/reject", json={})
    assert response.status_code == 404 and response.get_json()["error"]["code"] == "not_found"


@pytest.mark.parametrize("path", ["/api/v1/my-number-copies/99999999999999", "/api/v1/transfers/3000000000",
                                  "/api/v1/destructions/2147483648", "/api/v1/erasure-certificates/2147483648"])
def test_ids_beyond_the_integer_columns_are_404_not_500(api, path):
    """Found by fuzzing on PostgreSQL: ids are int4 there, and comparing one with 2**31 or more
    is an error, not "no row"."""
    response = api("admin").get(path)
    assert response.status_code == 404 and response.get_json()["error"]["code"].startswith("unknown_")


def test_a_nul_in_an_item_code_is_no_such_item_not_500(api, world):
    """Found by fuzzing on PostgreSQL, which refuses a NUL inside a text parameter."""
    assert api("admin").get("/api/v1/items/F-2026%00").status_code == 404
    response = api("registrar").post("/api/v1/destructions", json={"items": ["F-\u0000"], "method": "shred",
                                                                    "place": "税務課 執務室"})
    assert response.status_code == 422 and response.get_json()["error"]["code"] == "unknown_item"


def test_non_ascii_label_payload_is_not_genuine(api):
    """Found by fuzzing: a non-ASCII tag once broke the constant-time comparison."""
    response = api("registrar").get("/api/v1/scan/C.ëq")
    assert response.status_code == 404 and response.get_json()["genuine"] is False


def test_return_to_lessor_documents_the_422_it_answers(api, world, client):
    """Found by fuzzing: a form sent back to the lessor is a 422 the document did not list."""
    from tests import factories

    form = factories.form(world["registrar"]).code
    response = api("admin").post(f"/api/v1/items/{form}/return-to-lessor")
    assert response.status_code == 422 and response.get_json()["error"]["code"] == "not_a_device"
    document = client.get("/api/v1/openapi.json").get_json()
    assert "422" in document["paths"]["/api/v1/items/{code}/return-to-lessor"]["post"]["responses"]


def test_empty_query_parameters_are_absent_ones_and_documented_so(api, client):
    """Found by fuzzing: `?to=` was answered like no `to` while the document demanded a date."""
    auditor = api("auditor")
    assert auditor.get("/api/v1/items?kind=&status=&to=&as_of=&overdue=&page=&per_page=").status_code == 200
    assert auditor.get("/api/v1/reports/exceptions?as_of=").status_code == 200
    assert auditor.get("/api/v1/reports/statistics?year=&department=").status_code == 200
    document = client.get("/api/v1/openapi.json").get_json()
    query = [p for ops in document["paths"].values() for op in ops.values() for p in op["parameters"]
             if p["in"] == "query"]
    assert query and all(p["allowEmptyValue"] is True for p in query)


@pytest.mark.parametrize("body", [
    '{"kind": "form", "title": "\\ud800", "business": "car-tax", "sheets": 1, "location": "書庫"}',
    '{"kind": "form", "title": "帳票", "business": "car-tax", "sheets": 1, "location": "書庫", "\\udc00": 1}',
    '{"kind": "form", "title": ' + "[" * 5000 + "]" * 5000 + '}',
])
def test_json_that_python_parses_but_nothing_can_store_is_400(api, body):
    """Found while fuzzing: a lone surrogate escape reached the database encoder and deep nesting
    the parser's recursion limit, both as 500s."""
    registrar = api("registrar")
    response = registrar.client.post("/api/v1/items", data=body, headers=registrar.headers,
                                     content_type="application/json")
    assert response.status_code == 400 and response.get_json()["error"]["code"] == "malformed_json"
    assert registrar.get("/api/v1/items").get_json()["total"] == 0


def test_steps_that_take_no_body_are_documented_so(client, api, world):
    """Found by fuzzing: the document demanded a body that the erasure request (like accept,
    reject, cancel and provide) does without — and a request without one succeeded."""
    from tests import factories

    device = factories.device(world["admin"]).code
    assert api("admin").post(f"/api/v1/items/{device}/erasure-request").status_code == 200
    paths = client.get("/api/v1/openapi.json").get_json()["paths"]
    optional = ["/api/v1/items/{code}/erasure-request", "/api/v1/items/{code}/provide",
                "/api/v1/transfers/{transfer_id}/accept", "/api/v1/transfers/{transfer_id}/cancel",
                "/api/v1/transfers/{transfer_id}/reject"]
    assert all(paths[p]["post"]["requestBody"]["required"] is False for p in optional)
    assert paths["/api/v1/items"]["post"]["requestBody"]["required"] is True


def test_the_api_neither_reads_nor_answers_the_browser_session(client, login):
    login("auditor")  # the client now carries a signed-in session cookie
    assert client.get("/audit/verify").status_code == 200
    response = client.get("/api/v1/me")  # but no bearer token
    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "unauthenticated"
    assert "Set-Cookie" not in response.headers


def test_api_json_is_utf8_in_schema_order_and_survives_any_integer(app, api, world):
    from lifecycle.jsonout import loads_event_data

    code = factories.form(world["registrar"], title="住民票の写し 一括").code
    response = api("bulk").get(f"/api/v1/items/{code}")
    body = response.get_data()
    assert "住民票の写し 一括".encode() in body  # not \\u escapes
    assert body.startswith(b'{"code":') and body.endswith(b"\n")
    assert response.get_json()["events"][0]["data"]["title"] == "住民票の写し 一括"
    with app.test_request_context():
        assert app.json.response({"n": 2**70}).get_json() == {"n": 2**70}  # beyond orjson: stdlib
    assert loads_event_data('{"to": "x"}') == {"to": "x"} and loads_event_data("not json") == {}
