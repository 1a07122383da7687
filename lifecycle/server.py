"""`lifecycle serve`: gunicorn with one single-threaded (sync) worker process per core, each
running the app and a scheduler.

Why processes, and why no threads: a request is CPU work in Python (SQLAlchemy, Jinja, JSON), so
one process uses one core however many threads it has, and threads that mix that work with
database waits queue behind each other for the GIL at every query. Measured on the 2-core
reference machine with 100,000 items (README, "Server choice"): 2 sync workers served the item
page as JSON at 1,630–1,660 req/s, 2 workers × 4 threads at 570, 4 × 2 at 1,250 and 5 sync
workers at 1,310. nginx in front buffers slow clients, which is what sync workers need.

Why each worker runs a scheduler: only the holder of the lease row acts (scheduler.py), the same
mechanism that already keeps several servers from running a job twice, so no worker is special
and a killed worker's lease passes to another.
"""
from __future__ import annotations

import errno
import gc
import os
import socket

from gunicorn.app.base import BaseApplication


def address_problem(host: str, port: int) -> str | None:
    """Why gunicorn could not listen on host:port, as one Japanese line; None if it can.

    Tried here, before gunicorn starts, because gunicorn's own answer to a busy port is several
    English lines repeated for five seconds. The socket is bound as gunicorn binds it (with
    SO_REUSEADDR) and closed at once.
    """
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        return f"ホスト名「{host}」が見つかりません。127.0.0.1 や 0.0.0.0 などを指定してください（例: make run HOST=127.0.0.1）。"
    family, kind, proto, _name, address = infos[0]
    with socket.socket(family, kind, proto) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(address)
            sock.listen(1)
        except OSError as exc:
            other = 5001 if port != 5001 else 5002
            if exc.errno == errno.EADDRINUSE:
                return (f"ポート {port} は既に使われています。"
                        f"別のポートを指定してください（例: make run PORT={other}）。")
            if exc.errno == errno.EACCES:
                return (f"ポート {port} を使う権限がありません。1024 以上のポートを指定してください"
                        f"（例: make run PORT={other}）。")
            return (f"{host} のポート {port} で待ち受けできません（{exc.strerror}）。"
                    "別のホストまたはポートを指定してください（例: make run HOST=127.0.0.1 PORT=5001）。")
    return None


def default_workers() -> int:
    return max(1, min(os.cpu_count() or 1, 16))


class Server(BaseApplication):
    def __init__(self, options: dict) -> None:
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self):
        # In the worker, after the fork: its own engine and connections, never the master's.
        from . import create_app, scheduler

        app = create_app()
        scheduler.start(app)
        # Everything loaded so far (modules, mappers, the app) lives as long as the worker: moved
        # out of the collector's sight (gc.freeze), so that a full collection walks only what
        # requests left behind. Walking it all took up to a few hundred milliseconds inside a
        # request, which held the write lock meanwhile and made the other workers' writes wait.
        gc.freeze()
        return app


def _worker_exit(_server, worker) -> None:
    app = getattr(worker, "wsgi", None)
    running = app.extensions.get("scheduler") if app is not None else None
    if running is not None:
        running.shutdown()


def serve(host: str, port: int, *, workers: int, threads: int) -> None:
    Server({
        "bind": f"{host}:{port}",
        "workers": workers,
        "threads": threads,
        "worker_class": "gthread" if threads > 1 else "sync",
        "timeout": 120,  # a 50,000-row ledger PDF takes a few seconds; nothing legitimate takes minutes
        "graceful_timeout": 30,
        "proc_name": "lifecycle",
        "accesslog": None,
        "control_socket_disable": True,  # no runtime control channel: nothing to secure, no home dir written
        "worker_exit": _worker_exit,
    }).run()
