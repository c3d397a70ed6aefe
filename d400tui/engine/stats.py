"""The supervisor's figures of the day and of a period, in one place for the screen and `d400 stats`.

Definitions (the guides quote them):
- requested: authorization requests (holds and zero-amount checks) made in the window;
- acceptance rate: approved ÷ requested, in percent to one decimal (None when nothing was asked);
- refusals by category / by code: every request not approved, UNAVAILABLE and NOT_ACCEPTED included;
- unavailable minutes: calendar minutes in which at least one request got UNAVAILABLE;
- latency p50 / p95: answered_at − requested_at in whole milliseconds, nearest rank (the answer
  ranked ⌈p × n⌉ of the n answered);
- blocked / released: the operators' BLOCK and RELEASE decisions of the window, per operator;
- holds lapsing: instalments still due whose hold ends before their due date (now, not windowed);
- voids pending: voids that did not get through yet, which the reconciler retries (now).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, time, timedelta
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


def _ms(pair: tuple[datetime, datetime] | None) -> int | None:
    if pair is None:
        return None
    return round((pair[1] - pair[0]) / timedelta(milliseconds=1))


def figures(conn: Any, first_day: date, last_day: date) -> Figures:
    w = q.Window(datetime.combine(first_day, time.min), datetime.combine(last_day + timedelta(days=1), time.min))
    requested = approved = 0
    by_category: dict[str, int] = {}
    by_code: dict[str, int] = {}
    for category, code, n in q.outcomes(conn, w):
        requested += n
        if category == m.Category.APPROVED:
            approved += n
            continue
        cat = category or "NO_ANSWER"  # asked, never answered (the reconciler will settle it)
        by_category[cat] = by_category.get(cat, 0) + n
        by_code[code or "-"] = by_code.get(code or "-", 0) + n
    answered = q.answered_count(conn, w)
    decisions: dict[str, dict[str, int]] = {}
    for operator, kind, n in q.decisions_by_operator(conn, w):
        per = decisions.setdefault(operator, {"blocked": 0, "released": 0})
        per["blocked" if kind == m.DecisionKind.BLOCK else "released"] += n
    return Figures(
        first_day=first_day, last_day=last_day, requested=requested, approved=approved,
        acceptance_rate=round(100 * approved / requested, 1) if requested else None,
        refusals_by_category=dict(sorted(by_category.items(), key=lambda kv: (-kv[1], kv[0]))),
        refusals_by_code=dict(sorted(by_code.items(), key=lambda kv: (-kv[1], kv[0]))),
        unavailable_minutes=q.unavailable_minutes(conn, w),
        latency_p50_ms=_ms(q.latency_at_rank(conn, w, math.ceil(0.50 * answered))) if answered else None,
        latency_p95_ms=_ms(q.latency_at_rank(conn, w, math.ceil(0.95 * answered))) if answered else None,
        decisions_by_operator=dict(sorted(decisions.items())),
    )


def supervision(engine: Engine, actor: m.Actor, since: date | None = None) -> Supervision:
    """Today's figures and those from `since` (default: the last 30 days, today included) to today."""
    engine.require_supervisor(actor, Message("engine.what_stats"))
    today = engine.today()
    first = since or today - timedelta(days=PERIOD_DAYS - 1)
    if first > today:
        raise EngineError("engine.stats_since_future", first=first)
    with engine.db.engine.connect() as conn:
        return Supervision(today=figures(conn, today, today), period=figures(conn, first, today),
                           holds_lapsing=q.holds_lapsing(conn), voids_pending=q.voids_pending(conn))
