"""A writer killed with SIGKILL in the middle of writes loses nothing committed and leaves
nothing half-done: every item has its registration event and the chain verifies."""
import os
import signal
import subprocess
import sys
import time

from sqlalchemy import func, select

from lifecycle.audit.models import AuditEvent
from lifecycle.audit.services import verify_chain
from lifecycle.extensions import db
from lifecycle.items.models import Item

WRITER = r"""
import sys
from lifecycle import create_app
from lifecycle.items.services import register_item
app = create_app({"INSTANCE_PATH": sys.argv[1], "DATABASE_URL": sys.argv[2],
                  "ARGON2_TIME_COST": 1, "ARGON2_MEMORY_COST": 64})
with app.app_context():
    n = 0
    while True:
        register_item("system:writer", {"kind": "form", "title": f"帳票 {n}", "business": "car-tax",
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
