"""Typed messages screens post to each other (handled with @on)."""

from __future__ import annotations

from textual.message import Message


class OrdersChanged(Message):
    """An order was created or changed: lists showing orders refresh."""

    def __init__(self, order_id: int | None = None) -> None:
        super().__init__()
        self.order_id = order_id


class SignedOn(Message):
    def __init__(self, name: str, supervisor: bool) -> None:
        super().__init__()
        self.name = name
        self.supervisor = supervisor
