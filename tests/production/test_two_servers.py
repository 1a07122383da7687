"""Two `lifecycle serve` processes on one database, driven by threads against both at once."""
import json
import threading
import urllib.error
import urllib.request

import pytest

from lifecycle.audit.services import verify_chain
from lifecycle.auth.services import issue_token
from lifecycle.extensions import db
from tests.servers import free_port, server_env, start_server, stop_server
from lifecycle.actors import SystemActor


def _call(base, token, method, path, body=None):
    request = urllib.request.Request(base + path, method=method, data=json.dumps(body).encode() if body else None,
                                     headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


@pytest.fixture
def two_servers(world, app, tmp_path):
    import shutil

    from lifecycle import crypto

    url = app.config["DATABASE_URL"]
    # The servers share instance/keys (labels, checkpoints, KEK), as the deployment guide says.
    crypto.ensure_keys(tmp_path / "a")
    shutil.copytree(tmp_path / "a" / "keys", tmp_path / "b" / "keys")
    servers, bases = [], []
    for name in ("a", "b"):
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        servers.append(start_server(tmp_path / name, port, server_env(tmp_path / name, base, url)))
        bases.append(base)
    db.session.remove()
    yield bases
    for server in servers:
        stop_server(server)


@pytest.mark.slow
def test_concurrent_registrations_and_one_accept_across_servers(two_servers, world):
    tokens = {login: issue_token(SystemActor("system:test", "テスト"), login) for login in ("registrar", "bulk", "security")}
    db.session.remove()
    codes, errors = [], []

    def register(base, n):
        for i in range(n):
            status, body = _call(base, tokens["registrar"], "POST", "/api/v1/items",
                                 {"kind": "form", "title": f"並行登録 {i}", "business": "car-tax", "sheets": 1})
            (codes if status == 201 else errors).append(body.get("code") or body)

    threads = [threading.Thread(target=register, args=(two_servers[i % 2], 10)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(codes) == 60 and len(set(codes)) == 60

    # one hand-off, four receivers' clicks split over both servers: exactly one accept wins
    status, transfer = _call(two_servers[0], tokens["registrar"], "POST", f"/api/v1/items/{codes[0]}/transfers",
                             {"to": "security", "note": "並行受領"})
    assert status == 201, transfer
    outcomes = []

    def accept(base):
        outcomes.append(_call(base, tokens["security"], "POST", f"/api/v1/transfers/{transfer['id']}/accept")[0])

    clickers = [threading.Thread(target=accept, args=(two_servers[i % 2],)) for i in range(4)]
    for t in clickers:
        t.start()
    for t in clickers:
        t.join()
    assert sorted(outcomes) == [200, 409, 409, 409]
    db.session.remove()
    assert verify_chain().ok
