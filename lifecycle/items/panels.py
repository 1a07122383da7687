"""Sections of the item page contributed by other domains (hand-offs, destruction, erasure…)."""
from ..panels import Panels

ITEM_PANELS = Panels()


def register_item_panel(template: str, provide, order: int = 50) -> None:
    """`provide(item, user)` returns the template context, or None to hide the section; `item` is
    the item's ledger row (items/queries.LEDGER_COLUMNS)."""
    ITEM_PANELS.register(template, provide, order)


def panels_for(item, user) -> list[tuple[str, dict]]:
    return ITEM_PANELS.shown(item, user)
