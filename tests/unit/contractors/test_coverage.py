"""Where the coverage rule applies: destruction batches, erasure certificates, returns to the lessor."""
from __future__ import annotations

from datetime import timedelta

import pytest

from lifecycle.clock import today_jst
from lifecycle.destruction import services as destruction
from lifecycle.errors import Invalid
from tests import factories

TODAY = today_jst()


def pulp(world, **kw):
    form = factories.form(world["registrar"])
    return destruction.create_batch(world["registrar"], items=[form.code], method="pulp", place="溶解工場", **kw)


def test_pulping_needs_a_contractor(world):
    with pytest.raises(Invalid) as exc:
        pulp(world)
    assert exc.value.code == "contractor_not_covered" and exc.value.field == "contractor"


def test_pulping_by_a_covered_contractor_is_recorded(world):
    batch = pulp(world, contractor=factories.pulper())
    assert batch.contractor.name == factories.PULPER
    assert destruction.batch_json(batch)["contractor"]["name"] == factories.PULPER


def test_pulping_outside_the_contract_period_is_refused(world):
    ended = factories.contractor(world["admin"], services=("pulping",), start=TODAY - timedelta(days=400),
                                 end=TODAY - timedelta(days=1))
    with pytest.raises(Invalid) as exc:
        pulp(world, contractor=ended.id)
    assert "契約期間外です" in exc.value.message


def test_pulping_by_a_lessor_is_not_in_its_contract(world):
    lessor = factories.contractor(world["admin"], services=("leasing",))
    with pytest.raises(Invalid) as exc:
        pulp(world, contractor=lessor.id)
    assert "この業務（溶解・裁断・破砕）は契約に含まれていません" in exc.value.message


def test_a_planned_date_after_the_contract_ends_is_refused(world):
    ending = factories.contractor(world["admin"], services=("pulping",), end=TODAY + timedelta(days=5))
    with pytest.raises(Invalid) as exc:
        pulp(world, contractor=ending.id, planned_on=(TODAY + timedelta(days=10)).isoformat())
    assert "契約期間外です" in exc.value.message


def test_shredding_by_staff_needs_no_contractor(world):
    form = factories.form(world["registrar"])
    batch = destruction.create_batch(world["registrar"], items=[form.code], method="shred", place="税務課")
    assert batch.contractor is None
