"""DIN 66399 as the standard defines it: six material classes, seven security levels each, and what
each level asks of the remains (a maximum particle area, or for the lowest levels of some classes
a kind of damage instead of a size).

Source: DIN 66399-2:2012-10 "Büro- und Datentechnik – Vernichten von Datenträgern – Teil 2:
Anforderungen an Maschinen zur Vernichtung von Datenträgern", Tabelle 1 "Sicherheitsstufen und
Materialpartikel" (P: Papier, F: Film, O: optische Datenträger, T: magnetische Datenträger,
H: Festplatten mit magnetischem Datenträger, E: elektronische Datenträger).
"""
from __future__ import annotations

import math

CLASS_LABELS = {
    "P": "紙（帳票・印刷物）",
    "F": "フィルム（マイクロフィルム等）",
    "O": "光ディスク（CD・DVD・BD）",
    "T": "磁気媒体（テープ・ディスケット・磁気カード）",
    "H": "ハードディスク",
    "E": "電子記憶媒体（SSD・USBメモリ・メモリカード）",
}

#: Maximum particle area in mm² per level; None where the standard names a kind of damage (DAMAGE).
PARTICLE_MM2: dict[str, dict[int, float | None]] = {
    "P": {1: 2000, 2: 800, 3: 320, 4: 160, 5: 30, 6: 10, 7: 5},
    "F": {1: 160, 2: 30, 3: 10, 4: 2.5, 5: 1, 6: 0.5, 7: 0.2},
    "O": {1: 2000, 2: 800, 3: 160, 4: 30, 5: 10, 6: 5, 7: 0.2},
    "T": {1: None, 2: 2000, 3: 320, 4: 160, 5: 30, 6: 10, 7: 2.5},
    "H": {1: None, 2: None, 3: None, 4: 2000, 5: 320, 6: 10, 7: 5},
    "E": {1: None, 2: None, 3: 160, 4: 30, 5: 10, 6: 1, 7: 0.5},
}
DAMAGE = {
    ("T", 1): "機械的・機能的に使用不能にする",
    ("H", 1): "機械的・電子的に機能を失わせる",
    ("H", 2): "損傷させる（プラッタへの穴あけ等）",
    ("H", 3): "変形させる（プラッタの変形）",
    ("E", 1): "機械的・電子的に機能を失わせる",
    ("E", 2): "分割する（記憶チップの破壊）",
}


def parts(level: str) -> tuple[str, int]:
    """("H", 4) of "H-4"."""
    return level[0], int(level[2:])


def area(level: str) -> float:
    """The largest particle allowed, mm²; a level that asks only for damage allows any size."""
    cls, number = parts(level)
    found = PARTICLE_MM2[cls][number]
    return math.inf if found is None else found


def level_text(level: str) -> str:
    """What the level asks, in Japanese, for forms and reports: 「粒子 30 mm² 以下」."""
    cls, number = parts(level)
    found = PARTICLE_MM2[cls][number]
    return DAMAGE[(cls, number)] if found is None else f"粒子 {found:g} mm² 以下"
