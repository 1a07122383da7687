"""Two servers (each a gunicorn master with two workers) on one database: one scheduler leader
among the four workers; kill the leader's whole server and a worker of the other takes over."""
import time

import pytest

from lifecycle.extensions import db
from lifecycle.scheduler import current_lease
from tests.servers import free_port, kill_server, parent_pid, server_env, start_server, stop_server

HEARTBEAT = 1


def _holder():
    db.session.rollback()
    lease = current_lease()
    return lease.holder if lease else None


def _wait(predicate, seconds):
    deadline = time.time() + seconds
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.25)
    return None


@pytest.mark.slow
def test_leader_dies_and_the_other_server_takes_over(world, app, tmp_path):
    url = app.config["DATABASE_URL"]
    servers = {}
    for name in ("a", "b"):
        port = free_port()
        env = server_env(tmp_path / name, f"http://127.0.0.1:{port}", url,
                         LIFECYCLE_SCHEDULER_HEARTBEAT_SECONDS=str(HEARTBEAT))
        servers[name] = start_server(tmp_path / name, port, env)
    try:
        first = _wait(_holder, 15)
        assert first, "no scheduler took the lease"
        leader = next(s for s in servers.values() if s.pid == parent_pid(int(first.split(":")[1])))
        time.sleep(HEARTBEAT * 4)
        assert _holder() == first  # the leader keeps it while alive; no other worker steals it
        kill_server(leader)
        # lease TTL is three heartbeats: the survivor must hold it within two intervals of that
        taken = _wait(lambda: (h := _holder()) and h != first and h, HEARTBEAT * 3 * 2 + 5)
        assert taken, "the surviving server did not take over"
        survivor = next(s for s in servers.values() if s is not leader)
        assert parent_pid(int(taken.split(":")[1])) == survivor.pid
    finally:
        for server in servers.values():
            stop_server(server)
