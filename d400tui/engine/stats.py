"""The supervisor's figures of the day and of a period, in one place for the screen and `d400 stats`.

Definitions (the guides quote them):
- requested: authorization requests (holds and zero-amount checks) made in the window;
- acceptance rate: approved ÷ requested, in percent to one decimal (None when nothing was asked);
- refusals by category / by code: every request not approved, UNAVAILABLE and NOT_ACCEPTED included;
- unavailable minutes: calendar minutes in which at least one request got UNAVAILABLE;
- latency p50 / p95: answered_at − requested_at in whole milliseconds (rounded half to even),
  nearest rank (the answer ranked ⌈p × n⌉ of the n answered);
- blocked / released: the operators' BLOCK and RELEASE decisions of the window, per operator;
- holds lapsing: instalments still due whose hold ends before their due date (now, not windowed);
- voids pending: voids that did not get through yet, which the reconciler retries (now).

Past days are read from per-day totals the store keeps exact (store/stats.py); today is counted
from its rows at each call.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

from d400tui.domain import model as m
from d400tui.domain.message import Message
from d400tui.store import stats as q

from .errors import EngineError

if TYPE_CHECKING:
    from .service import Engine

PERIOD_DAYS = 30


@dataclass(frozen=True)
class Figures:
    first_day: date
    last_day: date
    requested: int = 0
    approved: int = 0
    acceptance_rate: float | None = None
    refusals_by_category: dict[str, int] = field(default_factory=dict)
    refusals_by_code: dict[str, int] = field(default_factory=dict)
    unavailable_minutes: int = 0
    latency_p50_ms: int | None = None
    latency_p95_ms: int | None = None
    decisions_by_operator: dict[str, dict[str, int]] = field(default_factory=dict)


@dataclass(frozen=True)
class Supervision:
    today: Figures
    period: Figures
    holds_lapsing: int
    voids_pending: int

    def as_json(self) -> dict[str, Any]:
        def plain(v: Any) -> Any:
            if isinstance(v, date):
                return v.isoformat()
            if isinstance(v, dict):
                return {k: plain(x) for k, x in v.items()}
            return v

        return plain(asdict(self))  # type: ignore[no-any-return]


def _at_rank(histogram: dict[int, int], rank: int) -> int:
    """The value ranked `rank` (1 = smallest) in a histogram {value: count}."""
    seen = 0
    for value in sorted(histogram):
        seen += histogram[value]
        if seen >= rank:
            return value
    raise ValueError(rank)


def figures(first_day: date, last_day: date, totals: q.Totals) -> Figures:
    requested = approved = 0
    by_category: dict[str, int] = {}
    by_code: dict[str, int] = {}
    for (category, code), n in totals.outcomes.items():
        requested += n
        if category == m.Category.APPROVED:
            approved += n
            continue
        cat = category or "NO_ANSWER"  # asked, never answered (the reconciler will settle it)
        by_category[cat] = by_category.get(cat, 0) + n
        by_code[code or "-"] = by_code.get(code or "-", 0) + n
    answered = sum(totals.latency_ms.values())
    decisions: dict[str, dict[str, int]] = {}
    for (operator, kind), n in sorted(totals.decisions.items()):
        if kind in (m.DecisionKind.BLOCK, m.DecisionKind.RELEASE):
            per = decisions.setdefault(operator, {"blocked": 0, "released": 0})
            per["blocked" if kind == m.DecisionKind.BLOCK else "released"] += n
    return Figures(
        first_day=first_day,
        last_day=last_day,
        requested=requested,
        approved=approved,
        acceptance_rate=round(100 * approved / requested, 1) if requested else None,
        refusals_by_category=dict(sorted(by_category.items(), key=lambda kv: (-kv[1], kv[0]))),
        refusals_by_code=dict(sorted(by_code.items(), key=lambda kv: (-kv[1], kv[0]))),
        unavailable_minutes=totals.unavailable_minutes,
        latency_p50_ms=_at_rank(totals.latency_ms, math.ceil(0.50 * answered)) if answered else None,
        latency_p95_ms=_at_rank(totals.latency_ms, math.ceil(0.95 * answered)) if answered else None,
        decisions_by_operator=dict(sorted(decisions.items())),
    )


def supervision(engine: Engine, actor: m.Actor, since: date | None = None) -> Supervision:
    """Today's figures and those from `since` (default: the last 30 days, today included) to today."""
    engine.require_supervisor(actor, Message("engine.what_stats"))
    today = engine.today()
    first = since or today - timedelta(days=PERIOD_DAYS - 1)
    if first > today:
        raise EngineError("engine.stats_since_future", first=first)
    closed, live = q.window(engine.db.engine, first, today, today)
    period = q.Totals()
    period.add(closed)
    for day in live.values():
        period.add(day)
    with engine.db.engine.connect() as conn:
        holds, voids = q.holds_lapsing(conn), q.voids_pending(conn)
    return Supervision(
        today=figures(today, today, live.get(today, q.Totals())),
        period=figures(first, today, period),
        holds_lapsing=holds,
        voids_pending=voids,
    )


def change_marker(engine: Engine, actor: m.Actor) -> tuple[object, ...]:
    """Cheap to read; differs from the last one whenever a figure may have changed (store.stats)."""
    engine.require_supervisor(actor, Message("engine.what_stats"))
    return q.change_marker(engine.db.engine)
