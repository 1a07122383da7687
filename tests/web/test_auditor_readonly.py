"""An auditor reads everything and changes nothing: every write route of the application, found
in app.url_map (so a route added tomorrow is covered tomorrow), is tried by a logged-in auditor
and with an auditor's API token, against real objects in every state that matters, and refused.

Refused means: a 4xx answer (403, or 400/404/405/409/422 where the request could not even be
read) — or, for a page, a redirect back with the reason flashed as an error — never a success;
the database is unchanged; and the only audit events added are access:denied ones.
"""
from __future__ import annotations

import io
import itertools
import json

import pytest
from flask import url_for
from reportlab.pdfgen.canvas import Canvas
from sqlalchemy import func, select

from lifecycle.audit.models import AuditEvent
from lifecycle.audit.services import head
from lifecycle.custody.services import request_transfer
from lifecycle.destruction.services import create_batch
from lifecycle.devices.services import request_erasure, submit_certificate
from lifecycle.extensions import db
from lifecycle.items.models import Item
from lifecycle.models import metadata
from lifecycle.mynumber.services import record_copy
from tests import factories

READ_METHODS = {"GET", "HEAD", "OPTIONS"}
EXCLUDED = {"/login", "/logout"}

#: Writes an auditor may do because they are his job, each with what it may leave behind.
#: Verifying the chain and signing a checkpoint change no record of the ledger; they are
#: themselves audited reads/attestations (SPEC: "auditors can verify it").
AUDITOR_ACTIONS = {
    ("POST", "/audit/verify"): ({"audit:verified"}, set()),
    ("POST", "/audit/checkpoints"): ({"audit:checkpoint_signed"}, {"audit_checkpoints"}),
    ("POST", "/api/v1/audit/checkpoints"): ({"audit:checkpoint_signed"}, {"audit_checkpoints"}),
    # How an auditor receives mail about his own tasks is his own setting, not the ledger's.
    ("POST", "/inbox/settings"): ({"mail:preference_set"}, {"mail_preferences"}),
    # Raising a finding and checking a self-inspection answer against its evidence are the
    # auditor's own findings, not changes to the ledger (lifecycle/findings, lifecycle/selfinspection).
    ("POST", "/findings"): ({"finding:raised"}, {"findings", "finding_refs"}),
    ("POST", "/api/v1/findings"): ({"finding:raised"}, {"findings", "finding_refs"}),
    ("POST", "/self-inspection-answers/<int:answer_id>/sample"): (
        {"self_inspection:sampled", "finding:raised"}, {"findings"}),
    ("POST", "/api/v1/self-inspection-answers/<answer_id>/sample"): (
        {"self_inspection:sampled", "finding:raised"}, {"findings"}),
    # The access-log review is the auditor's own record (SPEC: auditors record access-log review
    # results): the draw (with the checkpoint it signs), marks, hits decided (a confirmed one is a
    # finding) and a department's raised sampling; none changes the ledger (lifecycle/logreview).
    ("POST", "/log-reviews"): ({"log_review:opened", "audit:checkpoint_signed"}, {
        "access_log_reviews", "access_review_samples", "access_sampled_records", "audit_checkpoints"}),
    ("POST", "/api/v1/log-reviews"): ({"log_review:opened", "audit:checkpoint_signed"}, {
        "access_log_reviews", "access_review_samples", "access_sampled_records", "audit_checkpoints"}),
    ("POST", "/api/v1/log-reviews/lookbacks"): ({"log_review:lookback_opened"}, {
        "access_log_reviews", "access_review_samples", "access_sampled_records"}),
    ("POST", "/log-reviews/lookbacks"): ({"log_review:lookback_opened"}, {
        "access_log_reviews", "access_review_samples", "access_sampled_records"}),
    ("POST", "/log-reviews/raises"): ({"log_review:sampling_raised"}, {"access_sampling_raises"}),
    ("POST", "/api/v1/log-review-raises"): ({"log_review:sampling_raised"}, {"access_sampling_raises"}),
    ("POST", "/log-reviews/records/<int:sampled_id>/mark"): ({"log_review:record_marked"}, {"access_sampled_records"}),
    ("POST", "/api/v1/log-review-records/<sampled_id>/mark"): (
        {"log_review:record_marked"}, {"access_sampled_records"}),
    ("POST", "/log-reviews/records/<int:sampled_id>/escalate"): (
        {"log_review:query_escalated", "finding:raised"}, {"access_sampled_records", "findings", "finding_refs"}),
    ("POST", "/log-reviews/hits/<int:hit_id>/decide"): (
        {"log_review:hit_decided", "finding:raised"}, {"access_check_hits", "findings", "finding_refs"}),
    ("POST", "/api/v1/log-review-hits/<hit_id>/decide"): (
        {"log_review:hit_decided", "finding:raised"}, {"access_check_hits", "findings", "finding_refs"}),
}

#: Tables the refusals themselves write to.
BOOKKEEPING = {"audit_events", "audit_head", "audit_tree_nodes"}


def _pdf() -> bytes:
    buffer = io.BytesIO()
    canvas = Canvas(buffer)
    canvas.drawString(72, 720, "certificate")
    canvas.save()
    return buffer.getvalue()


@pytest.fixture
def objects(app, world):
    """One object of every kind a write route can name, each in a state where a write would work."""
    registrar, bulk, admin = world["registrar"], world["bulk"], world["admin"]
    form = factories.form(registrar)
    given = factories.form(registrar)
    transfer = request_transfer(registrar, given.code, "security2")
    doomed = factories.form(registrar)
    batch = create_batch(registrar, items=[doomed.code], method="pulp", place="委託業者",
                         contractor=factories.pulper())
    medium = factories.medium(bulk)
    device = factories.device(admin)
    erased = factories.device(admin)
    request_erasure(admin, erased.code, reason="replacement")
    cert = submit_certificate(admin, erased.code, {
        "vendor": "九州データ消去株式会社", "certificate_no": "E-1", "method": "purge", "tool": "Blancco 7",
        "verification": "全セクタ読取り検証", "performed_on": "2026-11-01"}, io.BytesIO(_pdf()), "e.pdf")
    copy = record_copy(bulk, {"my_number": "123456789018", "provided_to": "教育委員会", "reason": "再送"})
    from lifecycle.clock import today_jst
    from lifecycle.terminals import services as terminals

    terminal = terminals.register_terminal(admin, {"code": "AUDIT-CS01", "department": "zeimu",
                                                   "location": "税務課 執務室"})
    today = today_jst().isoformat()
    use = terminals.request_use(registrar, {"terminal": terminal.code, "business": "car-tax",
                                            "starts_at": f"{today}T00:01", "ends_at": f"{today}T23:59"})
    payload = app.extensions["label_signer"].payload(form.code)
    return {
        "code": [form.code, medium.code, device.code, erased.code, given.code],
        "transfer_id": [transfer.id],
        "batch_id": [batch.id],
        "cert_id": [cert.id],
        "copy_id": [copy.id],
        "terminal_code": [terminal.code],
        "use_id": [use.id],
        "login": ["registrar", "auditor"],
        "role": ["registrar", "auditor"],
        "payload": [payload],
        "form": form.code,
        "medium": medium.code,
    }


def write_rules(app):
    for rule in app.url_map.iter_rules():
        if rule.rule in EXCLUDED or rule.rule.startswith("/static"):
            continue
        for method in sorted(rule.methods - READ_METHODS):
            yield rule, method


def urls(app, rule, objects):
    names = sorted(rule.arguments)
    choices = [objects.get(name, ["1"]) for name in names]
    with app.test_request_context():
        for combo in itertools.product(*choices):
            yield url_for(rule.endpoint, **dict(zip(names, combo)))


def form_body(objects) -> dict:
    """Every field any write form reads, filled in plausibly, so a refusal is not just a 422."""
    return {
        "to": "security2", "note": "監査テスト", "reason": "監査テスト", "recipient": "教育委員会",
        "codes": objects["form"], "items": objects["form"], "method": "shred", "place": "執務室",
        "din_level": "P-4", "login": "newuser", "name": "新規 利用者", "department": "zeimu",
        "role": "registrar", "password": "correct-horse-battery", "trained_on": "2026-04-01",
        "kind": "form", "title": "監査テスト", "business": "car-tax", "sheets": "1",
        "my_number": "123456789018", "provided_to": "教育委員会", "key": "form.retention_days",
        "value": "10", "form.retention_days": "10", "code": "AUDIT1", "basis": "県条例",
        "vendor": "業者", "certificate_no": "X-1", "tool": "tool", "verification": "検証",
        "performed_on": "2026-11-01", "active": "false", "due_back": "2026-12-01", "layout": "a4-24",
        "location": "書庫", "media_type": "CD-R", "record_count": "1", "encrypted": "true",
    }


def snapshot():
    db.session.rollback()
    counts = {t.name: db.session.scalar(select(func.count()).select_from(t))
              for t in metadata.sorted_tables if t.name not in BOOKKEEPING}
    items = sorted(db.session.execute(select(Item.code, Item.status, Item.holder_id, Item.department_id,
                                             Item.location, Item.recipient, Item.due_back)).all())
    return counts, items


def events_since(seq: int) -> list[AuditEvent]:
    db.session.rollback()
    return list(db.session.scalars(select(AuditEvent).where(AuditEvent.seq > seq).order_by(AuditEvent.seq)))


def attempt(send, method, url, objects):
    body = form_body(objects)
    yield send(method, url, data=body)
    yield send(method, url, data={**body, "file": (io.BytesIO(_pdf()), "c.pdf", "application/pdf")},
               content_type="multipart/form-data")
    yield send(method, url, json={k: v for k, v in body.items()} | {"items": [objects["form"]],
                                                                     "codes": [objects["form"]]})


def refused_page(client, response) -> bool:
    """A page may answer a refusal the way the HTML views do: back to the page it came
    from (a redirect), the Japanese reason flashed as an error. Anything else under 400 is not a
    refusal. The flashes are taken, so the next attempt starts clean."""
    if not 300 <= response.status_code < 400:
        return False
    with client.session_transaction() as session:
        flashes = session.pop("_flashes", [])
    return any(category == "error" for category, _ in flashes)


def test_there_are_write_routes_to_try(app):
    routes = {rule.rule for rule, _ in write_rules(app)}
    assert len(routes) >= 20
    assert "/api/v1/items" in routes and "/admin/users" in routes


@pytest.mark.parametrize("channel", ["web", "api"])
def test_an_auditor_cannot_write_anything(app, client, login, api, objects, channel):
    if channel == "web":
        login("auditor")

        def send(method, url, **kw):
            return client.open(url, method=method, **kw)
    else:
        auditor = api("auditor")

        def send(method, url, **kw):
            return client.open(url, method=method, headers=auditor.headers, **kw)

    tried, failures = 0, []
    for rule, method in write_rules(app):
        if channel == "api" and not rule.rule.startswith("/api/"):
            continue
        if channel == "web" and rule.rule.startswith("/api/"):
            continue
        for url in urls(app, rule, objects):
            allowed = AUDITOR_ACTIONS.get((method, rule.rule))
            seq, _ = head()
            before = snapshot()
            for response in attempt(send, method, url, objects):
                tried += 1
                status = response.status_code
                if allowed is None and status < 400 and not (channel == "web" and refused_page(client, response)):
                    failures.append(f"{method} {url} → {status}")
                if status >= 500:
                    failures.append(f"{method} {url} → {status} (server error)")
            after = snapshot()
            new_types = {e.type for e in events_since(seq)}
            if allowed is None:
                if new_types - {"access:denied"}:
                    failures.append(f"{method} {url} recorded {sorted(new_types)}")
                if after != before:
                    failures.append(f"{method} {url} changed the database")
            else:
                event_types, tables = allowed
                if new_types - event_types - {"access:denied"}:
                    failures.append(f"{method} {url} recorded {sorted(new_types)}")
                changed = {t for t in before[0] if before[0][t] != after[0][t]}
                if changed - tables or before[1] != after[1]:
                    failures.append(f"{method} {url} changed {sorted(changed)}")
    assert tried > 50
    assert not failures, "\n".join(failures)


def test_refusals_are_recorded_as_denied(client, login, objects):
    login("auditor")
    seq, _ = head()
    response = client.post(f"/custody/transfers/{objects['transfer_id'][0]}/accept")
    assert response.status_code == 403
    (event,) = events_since(seq)
    assert event.type == "access:denied" and event.actor == "auditor"
    assert json.loads(event.data)["method"] == "POST"
