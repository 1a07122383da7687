"""廃棄記録書 and 消去証明受領記録: what they print, and that a changed file is caught."""
from __future__ import annotations

import io

import pytest
from pypdf import PdfReader
from sqlalchemy import select

from lifecycle.actors import SystemActor
from lifecycle.audit.models import AuditEvent
from lifecycle import files
from lifecycle.destruction import report, services
from lifecycle.errors import Conflict, Forbidden
from lifecycle.extensions import db
from tests import factories

from .test_services import pdf_bytes


def text_of(pdf: bytes) -> str:
    return "".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)


def pulped(world):
    items = [factories.form(world["registrar"], title=f"課税台帳 {n}") for n in range(2)]
    batch = services.create_batch(world["registrar"], items=[i.code for i in items], method="pulp",
                                  place="委託業者 溶解工場", din_level="P-5", contractor=factories.pulper())
    services.witness_batch(world["security"], batch.id)
    services.attach_certificate(world["registrar"], batch.id, io.BytesIO(pdf_bytes()), "yokai-0042.pdf")
    return services.get_batch(batch.id), items


def test_destruction_record_prints_items_method_level_people_and_certificate(app, world):
    batch, items = pulped(world)
    name, pdf = report.destruction_pdf(world["auditor"], batch.id)
    text = text_of(pdf)
    assert name == f"destruction-{batch.code}.pdf"
    assert "廃棄記録書" in text and batch.code in text
    for item in items:
        assert item.code in text
    assert "溶解" in text and "P-5" in text and "委託業者 溶解工場" in text
    assert "登録 一郎" in text and "安全 管理子" in text  # performer and witness
    assert "yokai-0042.pdf" in text and batch.certificate.sha256 in text
    assert "整合性: 一致" in text and "令和" in text
    types = [e.type for e in db.session.scalars(select(AuditEvent))]
    assert "report:generated" in types and "file:integrity_failed" not in types


def test_tampered_certificate_is_printed_as_an_integrity_error_and_audited(app, world):
    batch, _ = pulped(world)
    path = files.path_for(batch.certificate.sha256)
    path.write_bytes(path.read_bytes().replace(b"/MediaBox", b"/MediaBoX"))
    _, pdf = report.destruction_pdf(world["security"], batch.id)
    assert "【警告】" in text_of(pdf) and "改ざん" in text_of(pdf)
    failures = list(db.session.scalars(select(AuditEvent).where(AuditEvent.type == "file:integrity_failed")))
    assert len(failures) == 1 and batch.certificate.sha256 in failures[0].data
    with pytest.raises(Conflict) as exc:
        services.certificate_bytes(world["security"], batch.id)
    assert exc.value.code == "file_integrity_failed"


def test_awaiting_batch_prints_and_missing_certificate_is_named(app, world):
    form = factories.form(world["registrar"])
    batch = services.create_batch(world["registrar"], items=[form.code], method="pulp", place="x",
                                  contractor=factories.pulper())
    text = text_of(report.destruction_pdf(world["registrar"], batch.id)[1])
    assert "立会い待ち" in text and "証明書未受領" in text


def test_other_department_cannot_print_the_record(app, world):
    form = factories.form(world["registrar"])
    batch = services.create_batch(world["registrar"], items=[form.code], method="shred", place="x")
    with pytest.raises(Forbidden):
        report.destruction_pdf(world["registrar2"], batch.id)


def test_certificate_download_only_for_those_who_answer_for_it(app, world):
    batch, _ = pulped(world)
    for who in ("security", "security2", "auditor", "admin", "registrar"):
        assert services.certificate_bytes(world[who], batch.id)[1].startswith(b"%PDF-")
    from lifecycle.auth.services import create_user
    colleague = create_user(SystemActor("system:test", "テスト"), "zeimu2", "税務 同僚", "zeimu", roles=("registrar",),
                            trained_on=world["registrar"].trained_on, password="x" * 16)
    assert services.may_view(colleague, batch)  # sees the batch of his office …
    with pytest.raises(Forbidden):
        services.certificate_bytes(colleague, batch.id)  # … but not the contractor's certificate
