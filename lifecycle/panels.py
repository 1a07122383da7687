"""Page sections contributed by other domains (dashboard panels, item-page sections), so a page
needs no knowledge of the domains that add to it: each registers a template and a provider that
returns the template's context, or None to stay hidden."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable


@dataclass(frozen=True)
class Panel:
    template: str
    provide: Callable
    order: int = 50


class Panels:
    def __init__(self) -> None:
        self._panels: list[Panel] = []

    def register(self, template: str, provide: Callable, order: int = 50) -> None:
        if not any(p.template == template for p in self._panels):
            self._panels.append(Panel(template, provide, order))
            self._panels.sort(key=lambda p: p.order)

    def shown(self, *args) -> list[tuple[str, dict]]:
        result = []
        for panel in self._panels:
            context = panel.provide(*args)
            if context is not None:
                result.append((panel.template, context))
        return result
