"""DIN 66399 classes per medium, the standard's particle table, and the policy minimums."""
from __future__ import annotations

import math

import pytest

from lifecycle.destruction import din, services
from lifecycle.devices.services import request_erasure
from lifecycle.errors import Invalid
from lifecycle.policy.services import set_policy
from tests import factories


def test_particle_table_per_class():
    assert {c: din.area(f"{c}-4") for c in "PFOTHE"} == {"P": 160, "F": 2.5, "O": 30, "T": 160, "H": 2000, "E": 30}
    assert din.area("H-3") == math.inf and din.area("T-1") == math.inf
    assert din.level_text("E-7") == "粒子 0.5 mm² 以下"
    assert din.level_text("H-2") == "損傷させる（プラッタへの穴あけ等）"


def device_with(world, *types):
    storage = [{"media_type": t, "serial": f"S{n}{t}"} for n, t in enumerate(types)]
    device = factories.device(world["admin"], storage=storage)
    request_erasure(world["admin"], device.code)
    return device


def crush(world, device, level=None):
    return services.create_batch(world["bulk"], items=[device.code], method="crush", place="市町課",
                                 din_level=level)


@pytest.mark.parametrize("types,material,default", [
    (("HDD",), "hdd", "H-4"), (("SSD",), "electronic", "E-4"), (("NVMe",), "electronic", "E-4"),
    (("eMMC",), "electronic", "E-4"), (("HDD", "SSD"), "hdd_electronic", "E-4"),
])
def test_each_medium_has_its_class(world, types, material, default):
    batch = crush(world, device_with(world, *types))
    assert (batch.material, batch.din_level) == (material, default)


def test_a_hard_disk_is_not_a_tape(world):
    with pytest.raises(Invalid) as exc:
        crush(world, device_with(world, "HDD"), "T-4")
    assert exc.value.code == "invalid_din_level" and "H-1〜H-7" in exc.value.message


def test_an_ssd_below_e4_is_refused_and_e5_passes(world):
    with pytest.raises(Invalid) as exc:
        crush(world, device_with(world, "SSD"), "E-3")
    assert exc.value.code == "din_level_too_low"
    assert crush(world, device_with(world, "SSD"), "E-5").din_level == "E-5"


def test_a_device_with_disk_and_ssd_meets_both_minimums(world):
    with pytest.raises(Invalid) as exc:
        crush(world, device_with(world, "HDD", "SSD"), "H-5")  # 320 mm², coarser than E-4's 30
    assert exc.value.code == "din_level_too_low" and "両方" in exc.value.message
    assert crush(world, device_with(world, "HDD", "SSD"), "H-7").din_level == "H-7"  # 5 mm²


def test_hard_disk_minimum_follows_the_policy(world):
    set_policy(world["admin"], "destruction.min_level.hard_disk", "H-5")
    with pytest.raises(Invalid):
        crush(world, device_with(world, "HDD"), "H-4")
    assert crush(world, device_with(world, "HDD")).din_level == "H-5"


@pytest.mark.parametrize("media_type,level,ok", [("CD-R", "O-4", True), ("CD-R", "O-3", False),
                                                 ("MO", "O-4", True), ("MO", "T-4", False), ("MO", "T-5", True)])
def test_optical_and_mo(world, media_type, level, ok):
    medium = factories.medium(world["bulk"], media_type=media_type)
    def call():
        return services.create_batch(world["bulk"], items=[medium.code], method="crush", place="市町課",
                                     din_level=level)

    if ok:
        assert call().din_level == level
    else:
        with pytest.raises(Invalid):
            call()


def test_forms_show_particle_sizes():
    from lifecycle.destruction.forms import LEVEL_CHOICES

    assert ("H-4", "H-4（粒子 2000 mm² 以下）") in LEVEL_CHOICES
    assert ("E-4", "E-4（粒子 30 mm² 以下）") in LEVEL_CHOICES
