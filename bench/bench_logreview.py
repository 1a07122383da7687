"""Access-log import and automatic checks over a generated CSV (issue 23: a million rows imported in
under 60 s with flat memory, the checks over them in under 30 s, on SQLite and PostgreSQL).

Usage: .venv/bin/python bench/bench_logreview.py [rows] [sqlite|postgresql]
PostgreSQL: a scratch database `bench_logreview` on 127.0.0.1:5432 (created and dropped here), or
BENCH_PG_ADMIN_URL pointing at a server whose `test` database may create it.
"""
import os
import random
import resource
import sys
import tempfile
import time
from datetime import date, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import create_engine, text  # noqa: E402

from lifecycle import create_app  # noqa: E402
from lifecycle.actors import CLI  # noqa: E402
from lifecycle.extensions import db  # noqa: E402
from lifecycle.migrate import upgrade  # noqa: E402

PG_ADMIN = os.environ.get("BENCH_PG_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
PG_NAME = "bench_logreview"
#: Mostly 照会; 出力 is rare (each output without a registered 帳票 is a hit: none are registered here).
OPERATIONS = ("照会",) * 45 + ("提供",) * 4 + ("出力",)


def server_cpu() -> float:
    """CPU seconds so far of the PostgreSQL backends serving the bench database (read from /proc:
    the server runs on this machine), 0 for SQLite, whose work is this process's own."""
    if db.engine.dialect.name != "postgresql":
        return 0.0
    pids = db.session.execute(text("SELECT pid FROM pg_stat_activity WHERE datname = current_database()")).scalars()
    db.session.rollback()
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:  # a server on another machine, or a backend gone meanwhile
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / os.sysconf("SC_CLK_TCK")


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: kilobytes


#: Six months of working days (no weekends or 祝日) from April 2026.
FIRST_DAY, DAYS = date(2026, 4, 1), 183


def working_days() -> list[date]:
    import jpholiday

    days = (FIRST_DAY + timedelta(days=n) for n in range(DAYS))
    return [d for d in days if d.weekday() < 5 and not jpholiday.is_holiday(d)]


def write_csv(path: Path, rows: int, pairs: list[tuple[str, str]]) -> None:
    """Six months of a prefecture's terminals in office hours, with 1 % at night and 1 % by an
    operator the terminal's approvals do not name, written as it goes (never held in memory)."""
    rnd = random.Random(23)
    days = working_days()
    per_day = -(-rows // len(days))
    with open(path, "w", encoding="utf-8", newline="") as handle:
        handle.write("accessed_at,terminal,operator,business,operation,records\n")
        for n in range(rows):
            day = days[n // per_day]
            seconds = 8 * 3600 + 60 + (n % per_day) * (11 * 3600) // per_day
            if rnd.random() < 0.01:
                seconds += 13 * 3600  # 21:00 and later
            at = datetime(day.year, day.month, day.day) + timedelta(seconds=seconds)
            terminal, operator = rnd.choice(pairs)
            if rnd.random() < 0.01:
                operator = "stranger"
            handle.write(f"{at:%Y-%m-%d %H:%M:%S},{terminal},{operator},"
                         f"自動車税の賦課徴収に関する事務,{rnd.choice(OPERATIONS)},{rnd.randint(1, 50)}\n")


def approve_office_hours(pairs: list[tuple[str, str]]) -> int:
    """Approved uses (使用伺い) for each terminal and its operators, 8:00–20:00 of every working day,
    written with Core: the setting the checks meet in a real prefecture."""
    from sqlalchemy import insert, select, update

    from lifecycle.auth.models import Business, RoleGrant, User
    from lifecycle.clock import to_utc_naive
    from lifecycle.terminals.models import Terminal, TerminalUse

    terminals = dict(db.session.execute(select(Terminal.code, Terminal.id)).all())
    users = {u.login: u for u in db.session.scalars(select(User))}
    business = db.session.scalar(select(Business.id).where(Business.code == "car-tax"))
    approver = users["security2"]
    rows = []
    for day in working_days():
        for terminal, operator in pairs:
            user = users[operator]
            start = to_utc_naive(datetime(day.year, day.month, day.day, 8))
            end = to_utc_naive(datetime(day.year, day.month, day.day, 20))
            rows.append({"terminal_id": terminals[terminal], "user_id": user.id, "department_id": user.department_id,
                         "business_id": business, "purpose": "課税台帳の照会", "starts_at": start, "ends_at": end,
                         "status": "approved", "requested_at": start - timedelta(hours=1),
                         "decided_by_id": approver.id, "decided_by": approver.login, "decided_at": start,
                         "approved_at": start, "no_camera_phone_usb": True})
    with db.transaction() as session:
        session.execute(insert(TerminalUse), rows)
        # the demo's roles were granted today; the log is of earlier months
        session.execute(update(RoleGrant).values(granted_at=datetime(2020, 1, 1)))
    return len(rows)


def main() -> None:
    rows = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    backend = sys.argv[2] if len(sys.argv) > 2 else "sqlite"
    folder = Path(tempfile.mkdtemp(prefix="bench-logreview-"))
    admin = None
    if backend == "sqlite":
        url = f"sqlite:///{folder}/bench.db"
    else:
        admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{PG_NAME}" WITH (FORCE)'))
            conn.execute(text(f'CREATE DATABASE "{PG_NAME}"'))
        url = PG_ADMIN.rsplit("/", 1)[0] + f"/{PG_NAME}"
    app = create_app({"INSTANCE_PATH": str(folder / "instance"), "DATABASE_URL": url})
    try:
        with app.app_context():
            upgrade()
            from lifecycle.seeds import load_demo
            from lifecycle.terminals import services as terminals

            load_demo()
            departments = ["zeimu", "jidosha", "jutaku", "imu", "shogai", "ryoken"]
            codes = []
            for n in range(23):
                code = f"CS-{n:02d}"
                terminals.register_terminal(CLI, {"code": code, "department": departments[n % len(departments)],
                                                  "location": f"執務室 {n}"})
                codes.append(code)
            operators = ["registrar", "registrar2", "bulk", "security2", "security"]
            pairs = [(code, operators[(n + k) % len(operators)]) for n, code in enumerate(codes) for k in (0, 1)]
            print(f"approved uses: {approve_office_hours(pairs):,}")
            csv_path = folder / "access.csv"
            start = time.perf_counter()
            write_csv(csv_path, rows, pairs)
            print(f"generated {rows:,} rows ({csv_path.stat().st_size / 1e6:.0f} MB) in {time.perf_counter() - start:.1f} s")
            from lifecycle.logreview import checks, imports

            before = peak_mb()
            server = server_cpu()
            start, cpu = time.perf_counter(), time.process_time()
            with open(csv_path, "rb") as handle:
                result = imports.import_log(CLI, handle, "access.csv", run_checks=False)
            elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
            server = server_cpu() - server
            assert result.log_import.rows == rows, result.log_import.rows
            # CPU seconds of this process and of the database server beside the wall clock: on a
            # machine shared with other runs the wall clock includes waiting for a core.
            served = f", the database server's {server:.1f} s" if backend == "postgresql" else ""
            print(f"import: {rows:,} rows in {elapsed:.1f} s (this process's CPU {cpu:.1f} s{served}) = "
                  f"{rows / elapsed:,.0f} rows/s (target < 60 s); peak RSS {before:.0f} MB before, "
                  f"{peak_mb():.0f} MB after ({backend}); load average {os.getloadavg()[0]:.1f}")
            before = peak_mb()
            server = server_cpu()
            start, cpu = time.perf_counter(), time.process_time()
            counts = checks.run_checks(CLI, result.log_import.id)
            elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
            server = server_cpu() - server
            served = f", the database server's {server:.1f} s" if backend == "postgresql" else ""
            print(f"checks: {rows:,} records in {elapsed:.1f} s (CPU {cpu:.1f} s{served}; target < 30 s); hits {counts}; "
                  f"peak RSS {peak_mb():.0f} MB (was {before:.0f}); load average {os.getloadavg()[0]:.1f}")
            # The review's rows of the exceptions list read every undecided hit; the page's target is 1 s.
            from lifecycle.clock import today_jst
            from lifecycle.logreview.exceptions import review_exceptions

            start, cpu = time.perf_counter(), time.process_time()
            found = review_exceptions(today_jst())
            elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
            print(f"exceptions rows of the review: {len(found)} in {elapsed:.2f} s (CPU {cpu:.2f} s; "
                  f"the exceptions page's target < 1 s)")
    finally:
        db.session.remove()
        if db.engine is not None:
            db.engine.dispose()
        if admin is not None:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{PG_NAME}" WITH (FORCE)'))
            admin.dispose()


if __name__ == "__main__":
    main()
