"""A writer, and a whole server, killed with SIGKILL in the middle of writes lose nothing
committed and leave nothing half-done: every item has its registration event and the chain
verifies."""
import http.client
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

import pytest
from sqlalchemy import func, select

from lifecycle.actors import SystemActor
from lifecycle.audit.models import AuditEvent
from lifecycle.audit.services import verify_chain
from lifecycle.auth.services import issue_token
from lifecycle.extensions import db
from lifecycle.items.models import Item
from tests.servers import free_port, kill_server, server_env, start_server, stop_server

WRITER = r"""
import sys
from lifecycle import create_app
from lifecycle.items.services import register_item
from lifecycle.actors import SystemActor
app = create_app({"INSTANCE_PATH": sys.argv[1], "DATABASE_URL": sys.argv[2],
                  "ARGON2_TIME_COST": 1, "ARGON2_MEMORY_COST": 64})
with app.app_context():
    n = 0
    while True:
        register_item(SystemActor("system:writer", "書込み"), {"kind": "form", "title": f"帳票 {n}", "business": "car-tax",
                                        "sheets": 1}, holder_login="registrar")
        n += 1
        print(n, flush=True)
"""


def test_sigkill_mid_write_keeps_everything_consistent(world, app, tmp_path):
    db.session.remove()
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(tmp_path / "writer"), app.config["DATABASE_URL"]],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    written = 0
    deadline = time.time() + 60
    while written < 30 and time.time() < deadline:
        line = writer.stdout.readline()
        if not line:
            break
        written = int(line)
    os.kill(writer.pid, signal.SIGKILL)
    writer.wait()
    assert written >= 30, writer.stderr.read()[-2000:]
    db.session.remove()
    items = db.session.scalar(select(func.count()).select_from(Item))
    registered = db.session.scalar(select(func.count()).select_from(AuditEvent)
                                   .where(AuditEvent.type == "item:registered"))
    assert items >= written and items == registered
    result = verify_chain()
    assert result.ok, result.reason


def _register(base: str, token: str, n: int):
    body = json.dumps({"kind": "form", "title": f"停電試験 {n}", "business": "car-tax", "sheets": 1}).encode()
    request = urllib.request.Request(f"{base}/api/v1/items", data=body, method="POST",
                                     headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())["code"]


@pytest.mark.slow
def test_server_killed_under_load_keeps_every_acknowledged_registration(world, app, tmp_path):
    """The whole server (gunicorn master and workers) dies by SIGKILL while four clients register;
    after a restart every registration that was answered 201 is there, with its event, and the
    chain verifies. Requests cut off mid-flight may or may not have committed — never half."""
    token = issue_token(SystemActor("system:test", "テスト"), "registrar")
    db.session.remove()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = server_env(tmp_path / "srv", base, app.config["DATABASE_URL"])
    server = start_server(tmp_path / "srv", port, env)
    acknowledged: list[str] = []
    stop = threading.Event()

    def client(offset: int) -> None:
        n = offset
        while not stop.is_set():
            try:
                acknowledged.append(_register(base, token, n))
            except (OSError, urllib.error.URLError, http.client.HTTPException):
                return  # the server is gone, perhaps in the middle of an answer (IncompleteRead)
            n += 4

    threads = [threading.Thread(target=client, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    deadline = time.time() + 60
    while len(acknowledged) < 40 and time.time() < deadline:
        time.sleep(0.05)
    kill_server(server)
    stop.set()
    for thread in threads:
        thread.join(timeout=15)
    assert len(acknowledged) >= 40
    server = start_server(tmp_path / "srv", port, env)
    try:
        for code in acknowledged:
            request = urllib.request.Request(f"{base}/api/v1/items/{code}",
                                             headers={"Authorization": f"Bearer {token}"})
            with urllib.request.urlopen(request, timeout=10) as response:
                events = json.loads(response.read())["events"]
            assert [e["type"] for e in events][:1] == ["item:registered"]
    finally:
        stop_server(server)
    db.session.remove()
    items = db.session.scalar(select(func.count()).select_from(Item))
    registered = db.session.scalar(select(func.count()).select_from(AuditEvent)
                                   .where(AuditEvent.type == "item:registered"))
    assert items == registered and items >= len(acknowledged)
    result = verify_chain()
    assert result.ok, result.reason
