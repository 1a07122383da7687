"""Starting real `lifecycle serve` processes for browser and production tests."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

CLI = [sys.executable, "-m", "lifecycle.cli"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def server_env(instance: Path, base_url: str, database_url: str | None = None, **extra) -> dict:
    env = dict(os.environ, LIFECYCLE_INSTANCE=str(instance), LIFECYCLE_BASE_URL=base_url,
               LIFECYCLE_LOGIN_RATE_LIMIT="1000 per minute", **extra)
    env.pop("LIFECYCLE_DATABASE_URL", None)
    if database_url:
        env["LIFECYCLE_DATABASE_URL"] = database_url
    return env


def cli(env: dict, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(CLI + list(args), env=env, check=check, capture_output=True, text=True)


def start_server(instance: Path, port: int, env: dict, *, workers: int = 2, threads: int = 1) -> subprocess.Popen:
    """Starts `lifecycle serve` and waits until /login answers."""
    instance.mkdir(parents=True, exist_ok=True)
    log = open(instance / f"server-{port}.log", "wb")
    # Its own process group: the gunicorn master and its workers die together in crash tests.
    server = subprocess.Popen(CLI + ["serve", "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers),
                                    "--threads", str(threads)],
                              env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/login", timeout=1)
            return server
        except Exception:
            if server.poll() is not None:
                break
            time.sleep(0.2)
    kill_server(server)
    raise RuntimeError("server did not start: " + (instance / f"server-{port}.log").read_text())


def stop_server(server: subprocess.Popen) -> None:
    if server.poll() is None:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            kill_server(server)
    kill_server(server)  # workers left behind by a master that died first


def kill_server(server: subprocess.Popen) -> None:
    """SIGKILL to the whole server (master and workers), as when its host loses power."""
    try:
        os.killpg(server.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    server.wait()


def parent_pid(pid: int) -> int:
    with open(f"/proc/{pid}/stat") as stat:
        return int(stat.read().rsplit(")", 1)[1].split()[1])
