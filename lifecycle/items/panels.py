"""Sections of the item page contributed by other domains (hand-offs, destruction, erasure…),
so the item page needs no knowledge of them: each registers a template and a context provider."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable


@dataclass(frozen=True)
class ItemPanel:
    template: str
    provide: Callable  #: (item, user) -> dict | None; None hides the panel
    order: int = 50


ITEM_PANELS: list[ItemPanel] = []


def register_item_panel(template: str, provide: Callable, order: int = 50) -> None:
    if not any(p.template == template for p in ITEM_PANELS):
        ITEM_PANELS.append(ItemPanel(template, provide, order))
        ITEM_PANELS.sort(key=lambda p: p.order)


def panels_for(item, user) -> list[tuple[str, dict]]:
    shown = []
    for panel in ITEM_PANELS:
        context = panel.provide(item, user)
        if context is not None:
            shown.append((panel.template, context))
    return shown
