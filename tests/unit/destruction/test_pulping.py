"""Pulping: the items wait for the contractor's 溶解証明書 after the witness, and are destroyed only
when a security manager other than the one who attached it accepts it."""
from __future__ import annotations

import io

import pytest

from lifecycle.destruction import services
from lifecycle.errors import Conflict, Forbidden
from tests import factories
from tests.unit.destruction.test_services import events, pdf_bytes, status_of


def witnessed_pulp(world):
    forms = [factories.form(world["registrar"]) for _ in range(2)]
    batch = services.create_batch(world["registrar"], items=[f.code for f in forms], method="pulp",
                                  place="溶解工場", contractor=factories.pulper())
    services.witness_batch(world["security"], batch.id)
    return batch, forms


def test_witnessed_pulping_waits_for_the_certificate(world):
    batch, forms = witnessed_pulp(world)
    assert {status_of(f.code) for f in forms} == {"awaiting_pulping_certificate"}
    assert batch.status == "completed" and batch.certificate_missing
    with pytest.raises(Conflict):  # nothing attached yet
        services.accept_pulping_certificate(world["security2"], batch.id)
    with pytest.raises(Conflict):  # nor can the items join another batch
        services.create_batch(world["registrar"], items=[forms[0].code], method="shred", place="税務課")


def test_accepted_certificate_destroys_the_items(world):
    batch, forms = witnessed_pulp(world)
    services.attach_certificate(world["registrar"], batch.id, io.BytesIO(pdf_bytes()), "溶解証明.pdf")
    assert services.batch_json(services.get_batch(batch.id))["certificate_to_accept"] is True
    before = events("item:destroyed")
    services.accept_pulping_certificate(world["security"], batch.id)
    assert {status_of(f.code) for f in forms} == {"destroyed"}
    assert events("item:destroyed") == before + 2 and events("destruction:certificate_accepted") == 1
    with pytest.raises(Conflict):
        services.accept_pulping_certificate(world["security2"], batch.id)


def test_who_attached_it_cannot_accept_it(world):
    batch, forms = witnessed_pulp(world)
    services.attach_certificate(world["security2"], batch.id, io.BytesIO(pdf_bytes()), "溶解証明.pdf")
    with pytest.raises(Forbidden) as exc:
        services.accept_pulping_certificate(world["security2"], batch.id)
    assert exc.value.code == "separation_of_duties"
    with pytest.raises(Forbidden):
        services.accept_pulping_certificate(world["registrar"], batch.id)
    assert status_of(forms[0].code) == "awaiting_pulping_certificate"


def test_shredding_needs_no_certificate_and_destroys_at_the_witness(world):
    form = factories.form(world["registrar"])
    batch = services.create_batch(world["registrar"], items=[form.code], method="shred", place="税務課")
    services.witness_batch(world["security"], batch.id)
    assert status_of(form.code) == "destroyed"
    with pytest.raises(Conflict):
        services.accept_pulping_certificate(world["security2"], batch.id)


def test_api_accepts_the_certificate(api, world):
    batch, _forms = witnessed_pulp(world)
    services.attach_certificate(world["registrar"], batch.id, io.BytesIO(pdf_bytes()), "溶解証明.pdf")
    response = api("security2").post(f"/api/v1/destructions/{batch.id}/certificate/accept")
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["certificate_accepted_at"] and {i["status"] for i in body["items"]} == {"destroyed"}


def test_an_unaccepted_certificate_stays_an_exception(world):
    from lifecycle.clock import today_jst

    batch, _forms = witnessed_pulp(world)
    found = {e.batch.id: e.detail for e in services.list_destruction_exceptions(today_jst())}
    assert "証明書が未受領" in found[batch.id]
    services.attach_certificate(world["registrar"], batch.id, io.BytesIO(pdf_bytes()), "溶解証明.pdf")
    found = {e.batch.id: e.detail for e in services.list_destruction_exceptions(today_jst())}
    assert "受理待ち" in found[batch.id]
    services.accept_pulping_certificate(world["security"], batch.id)
    assert batch.id not in {e.batch.id for e in services.list_destruction_exceptions(today_jst())}


def test_an_attached_certificate_waits_for_another_security_manager(world):
    from lifecycle.notifications.tasks import task_count, tasks_for

    def waiting(login):
        return [t for t in tasks_for(world[login]) if t.kind == "pulping_certificate_to_accept"]

    batch, _forms = witnessed_pulp(world)
    assert waiting("security") == [] and waiting("security2") == []  # nothing attached yet
    services.attach_certificate(world["security2"], batch.id, io.BytesIO(pdf_bytes()), "溶解証明.pdf")
    (task,) = waiting("security")
    assert batch.code in task.summary and "溶解証明書の受理を待っています" in task.summary
    assert task.url.endswith(f"/destructions/{batch.id}")
    assert waiting("security2") == []  # who attached it cannot accept it
    assert waiting("registrar") == []
    before = task_count(world["security"])
    services.accept_pulping_certificate(world["security"], batch.id)
    assert waiting("security") == [] and task_count(world["security"]) == before - 1
