"""Choices and input parsing for the destruction pages (validation itself is the services')."""
from __future__ import annotations

import re
import unicodedata

from .din import PARTICLE_MM2, level_text
from .services import DEFAULT_LEVEL, MATERIAL_LABELS, METHOD_LONG, default_level, level_options

METHOD_CHOICES = [(key, label) for key, label in METHOD_LONG.items()]
LEVEL_CHOICES = [("", "既定値（材質に応じて）")] + [
    (f"{cls}-{n}", f"{cls}-{n}（{level_text(f'{cls}-{n}')}）") for cls in PARTICLE_MM2 for n in range(1, 8)]
DEFAULTS_TEXT = "、".join(f"{MATERIAL_LABELS[m]} {lvl}" for m, lvl in DEFAULT_LEVEL.items())
MAX_SELECTION = 500


def level_choices(selection) -> list[tuple[str, str]]:
    """The DIN 66399 levels the selection's material may take; every level when the selection
    holds no single material (the service then refuses the mix with its own message)."""
    materials = {row.material for row in selection if row.problem is None}
    if len(materials) != 1:
        return LEVEL_CHOICES
    material = materials.pop()
    return [("", f"既定値（{default_level(material)}）")] + [
        (level, f"{level}（{level_text(level)}）") for level in level_options(material)]


def selected_codes(args, resolve) -> tuple[list[str], list[str]]:
    """?codes=A&codes=B or ?codes=A,B from the ledger, plus a scanned `add`; kept in order, once.

    `resolve(payload)` turns a scanned label (its URL <base>/s/<payload> or the bare payload
    CODE.TAG) into the code if the tag is genuine; forged labels are returned separately."""
    raw: list[str] = []
    for value in args.getlist("codes") + args.getlist("add"):
        raw.extend(re.split(r"[\s,、，]+", unicodedata.normalize("NFKC", value or "")))
    codes: list[str] = []
    forged: list[str] = []
    for value in raw:
        value = value.strip()
        match = re.search(r"/s/([^/?#\s]+)$", value)
        if match or "." in value:
            payload = match.group(1) if match else value
            code = resolve(payload)
            if code is None:
                forged.append(payload[:40])
                continue
            value = code
        code = value.upper()[:20]
        if code and code not in codes:
            codes.append(code)
    remove = (args.get("remove") or "").strip().upper()
    return [c for c in codes if c != remove][:MAX_SELECTION], forged
