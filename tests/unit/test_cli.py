from sqlalchemy import text

from lifecycle.auth.services import get_user
from lifecycle.cli import AUTOVACUUM_OFF
from lifecycle.extensions import db


def test_init_is_idempotent(runner):
    first = runner.invoke(args=["init"])
    second = runner.invoke(args=["init"])
    assert first.exit_code == 0 and second.exit_code == 0
    assert "データベースは最新です" in second.output


def test_init_warns_when_the_postgresql_server_does_not_vacuum(runner):
    """The warning follows the server's own setting: this machine's PostgreSQL runs without
    autovacuum (its conf.d/90-ci.conf), a production one with it; SQLite never warns."""
    with runner.app.app_context():
        if db.is_sqlite:
            expected = False
        else:
            with db.engine.connect() as conn:
                expected = conn.exec_driver_sql("SHOW autovacuum").scalar() == "off"
    result = runner.invoke(args=["init"])
    assert result.exit_code == 0
    assert (AUTOVACUUM_OFF in result.output) is expected


def test_master_data_and_users(runner):
    assert runner.invoke(args=["departments", "create", "shicho", "--name", "市町課", "--system-owner"]).exit_code == 0
    assert runner.invoke(args=["departments", "create", "zeimu", "--name", "税務課"]).exit_code == 0
    assert runner.invoke(args=["businesses", "create", "passport", "--name", "旅券の発給に関する事務",
                               "--basis", "住基法別表第5"]).exit_code == 0
    result = runner.invoke(args=["users", "create", "hanako", "--name", "一括 花子", "--department", "shicho",
                                 "--role", "bulk_operator", "--role", "registrar", "--trained-on", "2026-04-01",
                                 "--password-stdin"], input="a-very-long-password\n")
    assert result.exit_code == 0, result.output
    user = get_user("hanako")
    assert {r.value for r in user.effective_roles} == {"bulk_operator", "registrar"}
    token = runner.invoke(args=["users", "token", "hanako"])
    assert token.exit_code == 0 and token.output.strip().startswith("lc_") and len(token.output.split()) == 1


def test_bad_input_is_one_line_and_non_zero(runner):
    runner.invoke(args=["departments", "create", "zeimu", "--name", "税務課"])
    cases = [
        ["users", "create", "x1", "--name", "名前", "--department", "nowhere"],
        ["users", "create", "x2", "--name", "名前", "--department", "zeimu", "--role", "bulk_operator"],
        ["users", "create", "x3", "--name", "名前", "--department", "zeimu", "--trained-on", "2026-13-01"],
        ["users", "create", "x4", "--name", "名前", "--department", "zeimu", "--role", "wizard"],
        ["departments", "create", "zeimu", "--name", "重複"],
        ["users", "token", "ghost"],
    ]
    for args in cases:
        result = runner.invoke(args=args)
        assert result.exit_code != 0, args
        assert "Traceback" not in result.output
        assert result.exception is None or isinstance(result.exception, SystemExit), (args, result.exception)
        assert len([line for line in result.output.splitlines() if line.strip()]) <= 3, result.output


def test_short_password_from_stdin_refused(runner):
    runner.invoke(args=["departments", "create", "zeimu", "--name", "税務課"])
    result = runner.invoke(args=["users", "create", "x5", "--name", "名前", "--department", "zeimu",
                                 "--password-stdin"], input="short\n")
    assert result.exit_code != 0 and "12文字以上" in result.output


def test_demo_then_if_empty(runner):
    result = runner.invoke(args=["demo"])
    assert result.exit_code == 0 and "admin" in result.output
    again = runner.invoke(args=["demo", "--if-empty"])
    assert again.exit_code == 0 and "読み込みませんでした" in again.output


def test_audit_verify_ok_and_broken(runner):
    runner.invoke(args=["demo"])
    ok = runner.invoke(args=["audit", "verify"])
    assert ok.exit_code == 0 and ok.output.startswith("ok ") and " head " in ok.output
    with db.engine.begin() as conn:
        conn.execute(text("UPDATE audit_events SET data = '{}' WHERE seq = 3"))
    broken = runner.invoke(args=["audit", "verify"])
    assert broken.exit_code == 1 and broken.output.startswith("broken at event 3: ")


def _listening_socket():
    import socket

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(1)
    return sock


def test_serve_on_a_busy_port_says_so_in_one_japanese_line(runner, monkeypatch):
    from lifecycle import server

    started = []
    monkeypatch.setattr(server, "serve", lambda *a, **k: started.append(a))
    with _listening_socket() as busy:
        port = busy.getsockname()[1]
        result = runner.invoke(args=["serve", "--host", "127.0.0.1", "--port", str(port)])
    assert result.exit_code == 1 and not started
    assert result.stderr.strip() == (f"ポート {port} は既に使われています。"
                                     "別のポートを指定してください（例: make run PORT=5001）。")
    assert "Traceback" not in result.output and "Address" not in result.output


def test_serve_starts_on_a_free_port(runner, monkeypatch):
    from lifecycle import server

    started = []
    monkeypatch.setattr(server, "serve", lambda host, port, **k: started.append((host, port)))
    with _listening_socket() as probe:
        port = probe.getsockname()[1]
    result = runner.invoke(args=["serve", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"])
    assert result.exit_code == 0, result.output
    assert started == [("127.0.0.1", port)]


def test_make_run_takes_host_and_port():
    import subprocess
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    out = subprocess.run(["make", "-n", "-W", "pyproject.toml", "run", "HOST=0.0.0.0", "PORT=5001"], cwd=root,
                         capture_output=True, text=True, check=True).stdout
    assert "serve --host 0.0.0.0 --port 5001" in out
    default = subprocess.run(["make", "-n", "run"], cwd=root, capture_output=True, text=True, check=True).stdout
    assert "serve --host 127.0.0.1 --port 5000" in default
