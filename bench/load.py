"""Load figures for issue 8: wrk against `lifecycle serve` on loopback.

With 100,000 items and 1,000,000 audit events in the database it measures, in one run:
- the throughput ceiling of the item page (GET /api/v1/items/<code>) and the scan resolve
  (GET /api/v1/scan/<payload>), against a bare Flask page reading one SQLite row served the same way;
- their p99 latency at about 200 requests per second;
- registration (POST /api/v1/items) p99 at about 100 per second.
Usage: .venv/bin/python bench/load.py [sqlite|postgresql] [threads]
Needs `wrk` (apt-get install wrk). Traffic goes to 127.0.0.1 only; every wrk run is time-bounded.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from tests.servers import cli, free_port, server_env, start_server, stop_server  # noqa: E402

ITEMS, EVENTS = 100_000, 1_000_000
PG_ADMIN = os.environ.get("BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")

GET_LUA = """
local paths = {}
for line in io.lines("%s") do paths[#paths + 1] = line end
local token = "%s"
local pause = %d
request = function()
  return wrk.format("GET", paths[math.random(#paths)], {["Authorization"] = "Bearer " .. token})
end
delay = function() return pause end
"""

POST_LUA = """
local token = "%s"
local pause = %d
local body = '{"kind":"form","title":"負荷試験 帳票","business":"car-tax","sheets":2,"location":"書庫"}'
request = function()
  return wrk.format("POST", "/api/v1/items", {["Authorization"] = "Bearer " .. token,
                    ["Content-Type"] = "application/json"}, body)
end
delay = function() return pause end
"""


def wrk(url: str, script: Path, *, connections: int, seconds: int) -> dict:
    out = subprocess.run(["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", "--timeout", "5s",
                          "-s", str(script), url], capture_output=True, text=True, timeout=seconds + 30).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    if rps == 0:
        print(out)
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)", out)
    scale = {"us": 0.001, "ms": 1, "s": 1000}[p99.group(2)]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {"rps": rps, "p99_ms": float(p99.group(1)) * scale, "non2xx": int(errors.group(1)) if errors else 0}


def seed(instance: Path, database_url: str) -> tuple[list[str], str, str]:
    from lifecycle import create_app
    from lifecycle.auth.services import issue_token
    from lifecycle.extensions import db
    from seed import seed_events, seed_items

    app = create_app({"INSTANCE_PATH": str(instance), "DATABASE_URL": database_url})
    with app.app_context():
        start = time.perf_counter()
        codes = seed_items(ITEMS)
        seed_events(EVENTS, codes)
        print(f"  seeded {ITEMS:,} items and {EVENTS:,} events in {time.perf_counter() - start:.0f} s")
        with db.engine.connect() as conn:  # a steady state: bulk-load WAL folded in, statistics fresh
            if db.is_sqlite:
                conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
                conn.exec_driver_sql("ANALYZE")
            else:
                conn.exec_driver_sql("COMMIT")
                conn.exec_driver_sql("ANALYZE")
        signer = app.extensions["label_signer"]
        scans = [f"/api/v1/scan/{signer.payload(c)}" for c in codes[::50]]
        token = issue_token("system:bench", "bulk")
        db.session.remove()
        db.engine.dispose()
    return codes, "\n".join(scans), token


def run(backend: str, threads: int) -> None:
    work = Path(tempfile.mkdtemp(prefix="lifecycle-load-"))
    instance = work / "instance"
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    database_url, pg_name = None, None
    if backend == "postgresql":
        from sqlalchemy import create_engine, text
        pg_name = f"lifecycle_load_{uuid.uuid4().hex[:6]}"
        admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{pg_name}"'))
        database_url = PG_ADMIN.rsplit("/", 1)[0] + "/" + pg_name
    env = server_env(instance, base, database_url)
    cli(env, "init")
    cli(env, "demo")
    url = database_url or f"sqlite:///{instance / 'lifecycle.db'}"
    codes, scans, token = seed(instance, url)
    (work / "items.txt").write_text("\n".join(f"/api/v1/items/{c}" for c in codes[::50]))
    (work / "scans.txt").write_text(scans)
    # Steady state: the first exceptions scan over the bulk-loaded ledger is done before measuring.
    print("  " + cli(env, "exceptions", "scan").stdout.strip().splitlines()[-1])
    server = start_server(instance, port, env | {"LIFECYCLE_SCHEDULER_HEARTBEAT_SECONDS": "60"})
    time.sleep(5)  # start-up jobs (purge, checkpoint, scan) run once right after start
    results = {}
    try:
        for name, paths in (("item page", "items.txt"), ("scan", "scans.txt")):
            ceiling = work / f"{name}-max.lua"
            ceiling.write_text(GET_LUA % (work / paths, token, 0))
            results[f"{name} ceiling"] = wrk(base, ceiling, connections=16, seconds=10)
            paced = work / f"{name}-200.lua"
            paced.write_text(GET_LUA % (work / paths, token, 40))  # 9 connections × 1 request / (40 ms + latency)
            results[f"{name} at ~200/s"] = wrk(base, paced, connections=9, seconds=15)
        post = work / "post.lua"
        post.write_text(POST_LUA % (token, 40))  # 5 connections × 1 request / (40 ms + latency)
        results["registration at ~100/s"] = wrk(base, post, connections=5, seconds=15)
    finally:
        stop_server(server)
    if backend == "sqlite":
        bare_port = free_port()
        bare = subprocess.Popen([sys.executable, str(ROOT / "bench" / "bare_app.py"), str(instance / "lifecycle.db"),
                                 str(bare_port), str(threads)])
        time.sleep(2)
        script = work / "bare.lua"
        script.write_text('request = function() return wrk.format("GET", "/row") end')
        results["bare Flask page (one SQLite row) ceiling"] = wrk(f"http://127.0.0.1:{bare_port}", script,
                                                                 connections=16, seconds=10)
        bare.terminate()
        bare.wait()
    print(f"\n{backend}, waitress threads={threads}")
    for name, figures in results.items():
        print(f"  {name:<42} {figures['rps']:>8.0f} req/s   p99 {figures['p99_ms']:>7.1f} ms"
              f"{'   non-2xx ' + str(figures['non2xx']) if figures['non2xx'] else ''}")
    if "bare Flask page (one SQLite row) ceiling" in results:
        bare_rps = results["bare Flask page (one SQLite row) ceiling"]["rps"]
        for name in ("item page ceiling", "scan ceiling"):
            print(f"  {name} / bare page: {results[name]['rps'] / bare_rps:.0%} (target ≥ 40 %)")
    json.dump(results, open(work / "results.json", "w"), indent=1)
    if pg_name:
        from sqlalchemy import create_engine, text
        admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{pg_name}" WITH (FORCE)'))
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    if not shutil.which("wrk"):
        sys.exit("wrk is not installed (apt-get install wrk)")
    run(sys.argv[1] if len(sys.argv) > 1 else "sqlite", int(sys.argv[2]) if len(sys.argv) > 2 else 8)
