"""Read models of the list screens (WRKORD, PRECHK): the decision shown on a result row, the
"refusals only" view, and what a capture run will capture (for its confirmation)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from decimal import Decimal

from d400tui.domain import model as m
from d400tui.domain.message import Message
from d400tui.store import list_queries as q

from .steps import Context

DECIDE = ("REFUSED", "UNAVAILABLE")  # the outcomes a person decides on


def order_holds(engine: Context, order_ids: Iterable[int]) -> dict[int, tuple[str, bool]]:
    with engine.db.uow() as uow:
        return q.order_holds(uow.session, order_ids)


def run_results(
    engine: Context, run_id: int, after_id: int = 0, limit: int = 100, refusals_only: bool = False
) -> list[m.RunResult]:
    with engine.db.uow() as uow:
        return q.results_page(uow.session, run_id, after_id, limit, DECIDE if refusals_only else None)


def capture_preview(engine: Context, actor: m.Actor, run_date: date) -> tuple[int, Decimal]:
    """(instalments, amount) the capture run would capture at `run_date`; supervisors only."""
    from d400tui.store.claims import due_where

    engine.require_supervisor(actor, Message("engine.what_capture"))
    with engine.db.uow() as uow:
        return q.capturable(uow.session, due_where(engine.db.dialect, run_date), run_date)
