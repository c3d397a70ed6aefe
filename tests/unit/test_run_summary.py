"""The CLI's end-of-run summary lists what someone must look at — refusals, unavailable, skips —
however many approvals came first (it read the run's first 200 results, all approvals on a
night of thousands, and said nothing of the rest), and says how many it did not list."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from types import SimpleNamespace

from d400tui.cli import runs
from d400tui.domain import model as m


class _Engine:
    def __init__(self, results: list[m.RunResult]) -> None:
        self.results = results

    def run_report(self, who, run_id):  # type: ignore[no-untyped-def]
        return SimpleNamespace(workers=[])

    def run_results(self, run_id, after_id=0, limit=1000, outcome=None):  # type: ignore[no-untyped-def]
        rows = [r for r in self.results if outcome is None or r.outcome == outcome]
        return [r for r in rows if (r.id or 0) > after_id][:limit]


def _result(k: int, outcome: str) -> m.RunResult:
    return m.RunResult(1, 1000 + k, 1, outcome, Decimal("10.00"), "05" if outcome == "REFUSED" else "", id=k)


def test_refusals_after_thousands_of_approvals_are_listed(capsys, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(runs, "LISTED_MAX", 3)
    results = [_result(k, "APPROVED") for k in range(1, 1001)]
    results += [_result(k, "REFUSED") for k in range(1001, 1004)] + [_result(k, "SKIPPED") for k in (1004, 1005)]
    batch = m.PrecheckRun("PRECHECK", date(2026, 12, 2), datetime(2026, 12, 2, 22), "SUPER1", 64)
    batch.id, batch.approved, batch.refused, batch.skipped, batch.finished_at = 1, 1000, 3, 2, datetime.now()
    runs._run_summary(batch, False, _Engine(results), m.Actor("SUPER1", True))
    out = capsys.readouterr().out
    assert [line.split()[1] for line in out.splitlines() if line.startswith("  order ")] == ["2001", "2002", "2003"]
    assert "and 2 more refused, unavailable or skipped (d400 run report 1)" in out
