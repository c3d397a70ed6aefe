"""Operator administration for the OPERS screen: list operators with their lock state and unlock
one, supervisors only (checked here, whoever calls). A thin adapter over `operators`: the
`identity` branch adds `list_operators(actor)` / `unlock_operator(actor, name)` there, and these
two become one-line calls to them."""

from __future__ import annotations

from dataclasses import dataclass

from d400tui.domain import model as m

from . import operators
from .service import Engine

WHAT = "administration des opérateurs"


@dataclass(frozen=True)
class OperatorRow:
    """What the screen shows of an operator (never the password hash)."""

    name: str
    supervisor: bool
    locked: bool
    failures: int


def list_operators(engine: Engine, actor: m.Actor) -> list[OperatorRow]:
    engine.require_supervisor(actor, WHAT)
    with engine.db.uow() as uow:
        return [OperatorRow(o.name, o.supervisor, o.locked, o.failures) for o in uow.operators.all()]


def unlock_operator(engine: Engine, actor: m.Actor, name: str) -> None:
    engine.require_supervisor(actor, WHAT)
    operators.unlock_operator(engine.db, name)
