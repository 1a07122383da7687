"""Load figures: wrk against `lifecycle serve` on loopback.

With 100,000 items and 1,000,000 audit events in the database it measures, in one run:
- the throughput ceiling of the item page — as JSON (GET /api/v1/items/<code>, with its events)
  and as the signed-in HTML page (GET /items/<code>) — and of the scan resolve
  (GET /api/v1/scan/<payload>), against a bare Flask page reading one SQLite row served by the
  same gunicorn settings (and, for reference, by gunicorn with 2 sync workers; on PostgreSQL also
  the same page reading its row from the server); each ceiling after a short warm-up;
- their p99 latency at 200 requests per second (a fixed schedule, see PACE_LUA);
- registration (POST /api/v1/items) p99 at 100 per second;
- for reference, the bare page's p99 at 200 per second: what this machine's tail is at that rate.
Usage: .venv/bin/python bench/load.py [sqlite|postgresql] [WORKERSxTHREADS ...]   (default: the serve default)
With BENCH_WORK=DIR the seeded database is kept in DIR and reused by the next run with the same DIR.
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

# Paced runs keep a fixed schedule: each wrk thread (its own Lua state) hands its connections the
# next slot of a timetable `period` ms apart, so the rate holds at what is asked whenever the server
# keeps up, and a slower answer does not lower the rate it is measured at. period 0: no pause.
PACE_LUA = """
local ffi = require("ffi")
ffi.cdef[[ typedef struct { long tv_sec; long tv_usec; } lc_timeval; int gettimeofday(lc_timeval *tv, void *tz); ]]
local tv = ffi.new("lc_timeval")
local function now_ms() ffi.C.gettimeofday(tv, nil); return tonumber(tv.tv_sec) * 1000 + tonumber(tv.tv_usec) / 1000 end
local period = %f
local next_at = nil
delay = function()
  if period == 0 then return 0 end
  local now = now_ms()
  next_at = math.max(next_at or now, now - period) + period
  return math.max(0, math.floor(next_at - now))
end
"""

GET_LUA = PACE_LUA + """
local paths = {}
for line in io.lines("%s") do paths[#paths + 1] = line end
local header = "%s"
local value = "%s"
request = function()
  return wrk.format("GET", paths[math.random(#paths)], {[header] = value, ["User-Agent"] = "%s"})
end
"""

POST_LUA = PACE_LUA + """
local token = "%s"
local body = '{"kind":"form","title":"負荷試験 帳票","business":"car-tax","sheets":2,"location":"書庫"}'
request = function()
  return wrk.format("POST", "/api/v1/items", {["Authorization"] = "Bearer " .. token,
                    ["Content-Type"] = "application/json"}, body)
end
"""

WRK_THREADS = 2
#: The one browser the signed-in page runs are made as: signed in with it and requesting with it.
#: Flask-Login's session protection marks a session whose address or browser changed as not fresh,
#: and a wrk that sent no User-Agent after a sign-in that did had every page re-sign its cookie.
BROWSER = "Mozilla/5.0 (lifecycle bench)"


def period_ms(rate: float) -> float:
    """The pause between slots of one wrk thread for `rate` requests a second in all."""
    return 1000.0 * WRK_THREADS / rate


def wrk(url: str, script: Path, *, connections: int, seconds: int) -> dict:
    out = subprocess.run(["wrk", f"-t{WRK_THREADS}", f"-c{connections}", f"-d{seconds}s", "--latency", "--timeout", "5s",
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
    from lifecycle.actors import SystemActor
    from lifecycle.extensions import db
    from seed import seed_events, seed_items

    app = create_app({"INSTANCE_PATH": str(instance), "DATABASE_URL": database_url})
    with app.app_context():
        start = time.perf_counter()
        codes = seed_items(ITEMS)
        seed_events(EVENTS, codes)
        print(f"  seeded {ITEMS:,} items and {EVENTS:,} events in {time.perf_counter() - start:.0f} s")
        if db.is_sqlite:  # a steady state: bulk-load WAL folded in, statistics fresh (PostgreSQL: measure)
            with db.engine.connect() as conn:
                conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
                conn.exec_driver_sql("ANALYZE")
        signer = app.extensions["label_signer"]
        scans = [f"/api/v1/scan/{signer.payload(c)}" for c in codes[::50]]
        token = issue_token(SystemActor("system:bench", "性能測定"), "bulk")
        db.session.remove()
        db.engine.dispose()
    return codes, "\n".join(scans), token


def vacuum(database_url: str) -> None:
    """What autovacuum does on a production server, done before each measurement: this machine's
    PostgreSQL runs without it (conf.d/90-ci.conf). Unvacuumed, a freshly loaded table has no
    visibility map, and the one-row audit head kept 300 pages of old versions from the bulk load
    (every write updates it) until a VACUUM."""
    from sqlalchemy import create_engine

    engine = create_engine(database_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.exec_driver_sql("VACUUM (ANALYZE)")
    engine.dispose()


def browser_cookie(base: str) -> str:
    """Signs in through the real login form (CSRF included) and returns the session cookie."""
    import http.cookiejar
    import urllib.parse
    import urllib.request

    from lifecycle.seeds import DEMO_PASSWORD

    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    opener.addheaders = [("User-Agent", BROWSER)]
    page = opener.open(f"{base}/login").read().decode()
    csrf = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)
    form = urllib.parse.urlencode({"login": "bulk", "password": DEMO_PASSWORD, "csrf_token": csrf}).encode()
    opener.open(f"{base}/login", data=form)
    return "; ".join(f"{c.name}={c.value}" for c in jar)


def check_cookie_kept(base: str, path: str, cookie: str) -> None:
    """A browser's pages within the minute send back the cookie they got; if the server signed a
    new one for each, the runs would measure that, so say so."""
    import urllib.request

    answer = urllib.request.urlopen(urllib.request.Request(base + path, headers={"Cookie": cookie, "User-Agent": BROWSER}))
    if answer.headers.get("Set-Cookie"):
        print("  warning: the signed-in page sets a new cookie on every request", flush=True)


def start_bare(database: Path, port: int, workers: int, threads: int, pg_url: str | None = None) -> subprocess.Popen:
    worker = ["-k", "gthread", "--threads", str(threads)] if threads > 1 else []
    env = dict(os.environ, BARE_DB=str(database), **({"BARE_PG": pg_url} if pg_url else {}))
    return subprocess.Popen([str(Path(sys.executable).parent / "gunicorn"), "-w", str(workers), *worker,
                             "-b", f"127.0.0.1:{port}", "--chdir", str(ROOT / "bench"), "bare_app:app"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def bare_pg_table(database_url: str) -> str:
    """The PostgreSQL reference page's one row, in lifecycle's database; returns a libpq URL."""
    from sqlalchemy import create_engine, text

    engine = create_engine(database_url)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE IF NOT EXISTS bare_items (id INTEGER PRIMARY KEY, code TEXT, title TEXT)"))
        conn.execute(text("INSERT INTO bare_items VALUES (1, 'F-2026-000001', 'ベンチマーク用 帳票 1') "
                          "ON CONFLICT (id) DO NOTHING"))
    engine.dispose()
    return database_url.replace("postgresql+psycopg://", "postgresql://")


def bare_database(work: Path) -> Path:
    """The bare page's one row, in SQLite whichever backend lifecycle runs on."""
    import sqlite3

    path = work / "bare.db"
    connection = sqlite3.connect(path)
    connection.execute("CREATE TABLE items (id INTEGER PRIMARY KEY, code TEXT, title TEXT)")
    connection.execute("INSERT INTO items VALUES (1, 'F-2026-000001', 'ベンチマーク用 帳票 1')")
    connection.commit()
    connection.close()
    return path


def measure(work: Path, env: dict, token: str, workers: int, threads: int) -> dict:
    instance = work / "instance"
    if env.get("LIFECYCLE_DATABASE_URL"):
        vacuum(env["LIFECYCLE_DATABASE_URL"])
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = start_server(instance, port, env | {"LIFECYCLE_BASE_URL": base, "LIFECYCLE_SCHEDULER_HEARTBEAT_SECONDS": "60"},
                          workers=workers, threads=threads)
    # The bare page on the same server settings, idle beside lifecycle and measured right before
    # each ceiling: this machine drifts by ±15 % within minutes, more than the gaps compared.
    bare_port = free_port()
    bare = start_bare(work / "bare.db", bare_port, workers, threads)
    bare_script = work / "bare.lua"
    bare_script.write_text('request = function() return wrk.format("GET", "/row") end')
    bare_paced = work / "bare-200.lua"
    bare_paced.write_text(PACE_LUA % period_ms(200) + 'request = function() return wrk.format("GET", "/row") end')
    time.sleep(5)  # start-up jobs (purge, checkpoint, scan) run once right after start
    results = {}
    bearer = ("Authorization", f"Bearer {token}")
    try:
        for name, paths, header in (("item page (JSON)", "items.txt", bearer), ("scan", "scans.txt", bearer),
                                    ("item page (HTML)", "pages.txt", None)):
            # Signed in just before: a browser keeps the cookie the server renews once a minute
            # (web.idle_timeout), while wrk would send the first one for ever.
            if header is None:
                header = ("Cookie", browser_cookie(base))
                check_cookie_kept(base, (work / paths).read_text().split()[0], header[1])
            ceiling = work / f"{name}-max.lua"
            ceiling.write_text(GET_LUA % (0, work / paths, *header, BROWSER))
            wrk(base, ceiling, connections=16, seconds=3)  # warm-up: caches filled, not measured
            results[f"bare page before the {name} ceiling"] = wrk(
                f"http://127.0.0.1:{bare_port}", bare_script, connections=16, seconds=10)
            results[f"{name} ceiling"] = wrk(base, ceiling, connections=16, seconds=10)
            paced = work / f"{name}-200.lua"
            paced.write_text(GET_LUA % (period_ms(200), work / paths, *header, BROWSER))
            if name == "item page (HTML)":  # what this machine's tail is at that rate, for reference
                results["bare page at 200/s"] = wrk(f"http://127.0.0.1:{bare_port}", bare_paced, connections=10,
                                                    seconds=15)
            results[f"{name} at 200/s"] = wrk(base, paced, connections=10, seconds=15)
        post = work / "post.lua"
        post.write_text(POST_LUA % (period_ms(100), token))
        results["registration at 100/s"] = wrk(base, post, connections=10, seconds=15)
    finally:
        stop_server(server)
        bare.terminate()
        bare.wait()
    bare_pages = [("bare Flask page, gunicorn 2 sync workers", (2, 1), None)]
    if env.get("LIFECYCLE_DATABASE_URL"):  # for reference: the same page reading PostgreSQL
        bare_pages.append(("bare page reading PostgreSQL, same server", (workers, threads),
                           bare_pg_table(env["LIFECYCLE_DATABASE_URL"])))
    for label, (w, t), pg_url in bare_pages:
        bare_port = free_port()
        bare = start_bare(work / "bare.db", bare_port, w, t, pg_url)
        time.sleep(2)
        results[label] = wrk(f"http://127.0.0.1:{bare_port}", bare_script, connections=16, seconds=10)
        bare.terminate()
        bare.wait()
    return results


def report(backend: str, workers: int, threads: int, results: dict) -> None:
    print(f"\n{backend}, lifecycle serve --workers {workers} --threads {threads}", flush=True)
    for name, figures in results.items():
        print(f"  {name:<48} {figures['rps']:>8.0f} req/s   p99 {figures['p99_ms']:>7.1f} ms"
              f"{'   non-2xx ' + str(figures['non2xx']) if figures['non2xx'] else ''}")
    sync = results["bare Flask page, gunicorn 2 sync workers"]["rps"]
    pg = results.get("bare page reading PostgreSQL, same server", {}).get("rps")
    for name in ("item page (JSON)", "scan", "item page (HTML)"):
        rps, same = results[f"{name} ceiling"]["rps"], results[f"bare page before the {name} ceiling"]["rps"]
        print(f"  {name + ' ceiling / bare page':<48} {rps / same:>8.0%} of the bare page just before, "
              f"{rps / sync:.0%} of 2 sync workers (for information)"
              + (f"; {rps / pg:.0%} of the PostgreSQL bare page" if pg else ""), flush=True)


def run(backend: str, configs: list[tuple[int, int]]) -> None:
    kept = os.environ.get("BENCH_WORK")  # reuse (and keep) a seeded database between runs
    work = Path(kept or tempfile.mkdtemp(prefix="lifecycle-load-"))
    if kept and (work / "token.txt").exists():
        env = json.loads((work / "env.json").read_text())
        for workers, threads in configs:
            report(backend, workers, threads, measure(work, env, (work / "token.txt").read_text(), workers, threads))
        return
    work.mkdir(parents=True, exist_ok=True)
    instance = work / "instance"
    database_url, pg_name = None, None
    if backend == "postgresql":
        from sqlalchemy import create_engine, text
        pg_name = f"lifecycle_load_{uuid.uuid4().hex[:6]}"
        admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{pg_name}"'))
        database_url = PG_ADMIN.rsplit("/", 1)[0] + "/" + pg_name
    env = server_env(instance, "http://127.0.0.1", database_url)
    cli(env, "init")
    cli(env, "demo")
    url = database_url or f"sqlite:///{instance / 'lifecycle.db'}"
    codes, scans, token = seed(instance, url)
    (work / "items.txt").write_text("\n".join(f"/api/v1/items/{c}" for c in codes[::50]))
    (work / "scans.txt").write_text(scans)
    (work / "pages.txt").write_text("\n".join(f"/items/{c}" for c in codes[::50]))
    bare_database(work)
    # Steady state: the first exceptions scan over the bulk-loaded ledger is done before measuring.
    print("  " + cli(env, "exceptions", "scan").stdout.strip().splitlines()[-1], flush=True)
    if kept:
        pg_name = None  # kept: the database stays for the next run
        (work / "env.json").write_text(json.dumps(env))
        (work / "token.txt").write_text(token)
    try:
        for workers, threads in configs:
            results = measure(work, env, token, workers, threads)
            report(backend, workers, threads, results)
            json.dump(results, open(work / f"results-{workers}x{threads}.json", "w"), indent=1)
    finally:
        if pg_name:
            from sqlalchemy import create_engine, text
            admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{pg_name}" WITH (FORCE)'))
        if not kept:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    if not shutil.which("wrk"):
        sys.exit("wrk is not installed (apt-get install wrk)")
    from lifecycle.server import default_workers
    shapes = sys.argv[2:] or [f"{default_workers()}x1"]  # e.g. 2x4 2x1 1x8: workers × threads each
    run(sys.argv[1] if len(sys.argv) > 1 else "sqlite", [tuple(int(n) for n in s.split("x")) for s in shapes])
