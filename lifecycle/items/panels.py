"""Sections of the item page contributed by other domains (hand-offs, destruction, erasure…)."""
from ..panels import Panels

ITEM_PANELS = Panels()
#: {name: labelled SQL expression correlated with `items`}: what sections asked to read with the
#: page's own row (register_item_panel).
ITEM_PROBES: dict = {}


def register_item_panel(template: str, provide, order: int = 50, probes: dict | None = None) -> None:
    """`provide(item, user)` returns the template context, or None to hide the section.

    `probes` ({name: SQL expression correlated with `items`}) are values the section needs of every
    item it is shown for, such as whether any batch holds it. The page reads them in the statement
    that reads the item, and `provide` finds them as attributes of the item: a statement of its own
    would cost the page a round trip to the database, on PostgreSQL about a tenth of the page."""
    ITEM_PANELS.register(template, provide, order)
    for name, expression in (probes or {}).items():
        ITEM_PROBES[name] = expression.label(name)


def panels_for(item, user) -> list[tuple[str, dict]]:
    return ITEM_PANELS.shown(item, user)
