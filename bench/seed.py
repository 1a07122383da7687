"""Bulk data for benchmarks: items and a valid audit chain, inserted with Core (no services)."""
from __future__ import annotations

import functools
from datetime import timedelta

from sqlalchemy import delete, func, insert, select

from lifecycle.audit.models import AuditEvent, AuditHead
from lifecycle.audit.services import GENESIS, canonical_data, chain_hash
from lifecycle.auth.models import Business, User
from lifecycle.clock import today_jst, utcnow
from lifecycle.extensions import db
from lifecycle.items.models import CodeCounter, Item


def in_one_transaction(fn):
    """Seeding writes the way the app does, inside db.transaction() (the session refuses to flush
    anywhere else), committed once at the end."""
    @functools.wraps(fn)
    def seeded(*args, **kwargs):
        with db.transaction():
            return fn(*args, **kwargs)
    return seeded


@in_one_transaction
def seed_items(count: int, *, year: int = 2026) -> list[str]:
    """`count` forms and media spread over the demo departments, numbered after the codes already
    handed out (the demo's own items); returns their codes."""
    users = db.session.scalars(select(User)).all()
    start = db.session.scalar(select(func.max(CodeCounter.last)).where(CodeCounter.year == year)) or 0
    business = db.session.scalars(select(Business)).first()
    now, today = utcnow(), today_jst()
    rows, codes = [], []
    for n in range(1, count + 1):
        user = users[n % len(users)]
        medium = n % 5 == 0
        code = f"{'M' if medium else 'F'}-{year}-{start + n:06d}"
        codes.append(code)
        rows.append({
            "code": code, "kind": "medium" if medium else "form",
            "status": ("provided" if n % 3 == 0 else "registered") if medium else ("in_custody" if n % 2 else "registered"),
            "title": f"ベンチマーク用 {'媒体' if medium else '帳票'} {n}", "business_id": business.id,
            "holder_id": user.id, "department_id": user.department_id, "location": "書庫",
            "created_by": user.login, "created_at": now - timedelta(minutes=n),
            "retention_until": None if medium else today + timedelta(days=(n % 60) - 20),
            "sheets": None if medium else 1 + n % 9, "contains_my_number": None if medium else False,
            "media_type": "CD-R" if medium else None, "record_count": 100 if medium else None,
            "recipient": "教育委員会" if medium else None, "encrypted": True if medium else None,
            "due_back": today + timedelta(days=(n % 40) - 20) if medium else None,
        })
        if len(rows) == 20000:
            db.session.execute(insert(Item), rows)
            rows = []
    if rows:
        db.session.execute(insert(Item), rows)
    db.session.execute(delete(CodeCounter).where(CodeCounter.prefix.in_(("F", "M")), CodeCounter.year == year))
    db.session.execute(insert(CodeCounter), [{"prefix": "F", "year": year, "last": start + count},
                                             {"prefix": "M", "year": year, "last": start + count}])
    return codes


@in_one_transaction
def seed_events(count: int, subjects: list[str]) -> None:
    """Extends the existing chain by `count` valid events about `subjects`."""
    head = db.session.get(AuditHead, 1)
    seq, prev = (head.seq, head.hash) if head else (0, GENESIS)
    at, batch = utcnow(), []
    for i in range(1, count + 1):
        seq += 1
        at_i = at + timedelta(microseconds=i)
        subject = subjects[i % len(subjects)]
        data = canonical_data({"from": "registered", "to": "in_custody", "note": f"ベンチ {i}"})
        prev = chain_hash(prev, seq, at_i, "custody:stored", "registrar", subject, data)
        batch.append({"seq": seq, "at": at_i, "type": "custody:stored", "actor": "registrar",
                      "subject": subject, "data": data, "hash": prev})
        if len(batch) == 50000:
            db.session.execute(insert(AuditEvent), batch)
            batch = []
    if batch:
        db.session.execute(insert(AuditEvent), batch)
    if head is None:
        db.session.add(AuditHead(id=1, seq=seq, hash=prev))
    else:
        head.seq, head.hash = seq, prev
