import pytest

from lifecycle.api import ENDPOINTS


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


def test_non_ascii_label_payload_is_not_genuine(api):
    """Found by fuzzing: a non-ASCII tag once broke the constant-time comparison."""
    response = api("registrar").get("/api/v1/scan/C.ëq")
    assert response.status_code == 404 and response.get_json()["genuine"] is False
