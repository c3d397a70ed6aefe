"""Which network a card goes on. A co-badged CB card (most French cards) may be routed on CB or on
its international brand: the customer chooses (EU Regulation 2015/751, art. 8), CB is the
merchant's default. Any other card goes on its brand alone: no choice is offered. The ranges
live in data/card_ranges.csv; the choice is kept on the order and sent with every call on it."""

from __future__ import annotations

from d400tui.acquirers.base import Acquirer
from d400tui.acquirers.ranges import card_ranges
from d400tui.domain.cards import Brand, CardData, networks_of

from .errors import EngineError

__all__ = ["card_ranges", "choice", "offered", "route"]


def offered(acquirer: Acquirer, pan: str) -> tuple[Brand, ...]:
    """The networks the card can go on that the acquirer takes, the default (CB) first."""
    return tuple(n for n in networks_of(pan, card_ranges()) if n in acquirer.brands)


def choice(acquirer: Acquirer, pan: str) -> tuple[Brand, ...]:
    """The networks the operator may choose between: two or more on a co-badged card, else none."""
    nets = offered(acquirer, pan)
    return nets if len(nets) > 1 else ()


def route(acquirer: Acquirer, card: CardData) -> CardData:
    """The card with its network: the one chosen if the card and the acquirer take it, else the
    default. A choice the card cannot take is refused (never silently routed elsewhere)."""
    nets = offered(acquirer, card.pan)
    if card.network is None:
        return card.on(nets[0]) if nets else card
    if card.network not in nets:
        raise EngineError("engine.network_not_offered", field="card", network=card.network.value)
    return card
