"""Every role against every page and API read that needs no identifier: each answers as a page,
a redirect or a refusal — never a server error — and the role-restricted ones refuse the others."""
import pytest

from tests import factories

ROLES = ["admin", "bulk", "registrar", "security", "auditor"]

#: path → roles that may open it (None: every logged-in user)
RESTRICTED = {
    "/admin/users": {"admin"}, "/admin/departments": {"admin"}, "/admin/businesses": {"admin"},
    "/audit/": {"admin", "auditor"}, "/audit/verify": {"admin", "auditor"},
    "/audit/checkpoints": {"admin", "auditor"},
    "/admin/mail": {"admin"}, "/admin/mail/addresses": {"admin"},
}


def _get_routes(app, prefix_api: bool):
    for rule in app.url_map.iter_rules():
        if "GET" not in rule.methods or rule.arguments or rule.endpoint == "static":
            continue
        if rule.rule.startswith("/api/") == prefix_api and rule.rule not in ("/logout",):
            yield rule.rule


@pytest.mark.parametrize("who", ROLES)
def test_pages(app, client, login, world, who):
    factories.form(world["registrar"])
    login(who)
    for path in _get_routes(app, prefix_api=False):
        if path.endswith((".zip", ".csv", ".pdf")):
            continue
        status = client.get(path).status_code
        assert status in (200, 302, 403, 422), (who, path, status)
        if path in RESTRICTED:
            assert (status == 200) == (who in RESTRICTED[path]), (who, path, status)


@pytest.mark.parametrize("who", ROLES)
def test_api_reads(app, api, world, who):
    factories.form(world["registrar"])
    caller = api(who)
    for path in _get_routes(app, prefix_api=True):
        response = caller.get(path)
        assert response.status_code in (200, 400, 403, 422), (who, path, response.status_code)
        if response.status_code >= 400:
            assert response.get_json()["error"]["message"]
