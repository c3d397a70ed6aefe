"""Keystrokes for an approved one-line phone card order, from the order panel (ORDENT) with the
cursor on the customer field: the shortest path replayed in Pilot as one burst, the order checked
approved in the database. Prints data keys (what the customer dictates), other keys (Enter, F10,
the card-on-file key) and the total, with the figure before issue 11 beside it.

Two paths: a new card (customer, article, card number, expiry, CVV), and a returning customer who
pays with the card on file (chosen with "*"; no CVV: our acquirers take none with a token).

usage: python bench/keystrokes.py"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

BEFORE = {"new card": (35, 14)}  # issue 11, as found: 49 keys, 14 carrying no data (12 of them Tab)
CUSTOMER, ARTICLE, PAN, EXPIRY, CVV = "100001", "BON0001", "4970100000000014", "1230", "123"


def new_card() -> tuple[list[str], list[str]]:
    """(data keys, other keys) in typing order, and the full sequence."""
    data = [*CUSTOMER, *ARTICLE, *PAN, *EXPIRY, *CVV]
    seq = [*CUSTOMER, *ARTICLE, "enter", "enter", "enter", *PAN, *EXPIRY, *CVV, "f10"]
    return data, seq


def on_file() -> tuple[list[str], list[str]]:
    data = [*CUSTOMER, *ARTICLE]
    seq = [*CUSTOMER, *ARTICLE, "enter", "enter", "enter", "asterisk", "f10"]
    return data, seq


async def run() -> list[tuple[str, int, int, bool]]:
    from d400tui.app import D400App
    from d400tui.config import Settings
    from d400tui.engine import open_engine
    from d400tui.engine.demo import seed_demo_operators
    from d400tui.engine.views import OrderFilter

    fixed = datetime(2025, 6, 2, 10, 30)
    settings = Settings()
    engine = open_engine(settings, clock=lambda: fixed)
    seed_demo_operators(engine.db)  # no database gets operators silently: the bench asks for OPER1
    app = D400App(settings, engine=engine, clock=lambda: fixed)
    out = []
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press(*"OPER1", "tab", *"oper1-demo", "enter")
        await _idle(pilot)
        await pilot.press("1", "enter")
        await _idle(pilot)
        for name, path in (("new card", new_card), ("card on file", on_file)):
            data, seq = path()
            before = engine.list_orders(OrderFilter(), limit=1)
            await pilot.press(*seq)
            await _idle(pilot)
            rows = engine.list_orders(OrderFilter(), limit=1)
            ok = bool(rows) and (not before or rows[0].id != before[0].id)
            if ok:
                order = engine.get_order(rows[0].id)
                ok = (
                    order.status.value == "VALIDATED"
                    and order.customer_id == int(CUSTOMER)
                    and [(ln.article_code, ln.quantity) for ln in order.lines] == [(ARTICLE, 1)]
                    and str(order.card) == f"{PAN[:6]}…{PAN[-4:]}"
                    and any(a.state.value == "APPROVED" for a in order.authorizations)
                )
            out.append((name, len(data), len(seq) - len(data), ok))
    engine.db.dispose()
    return out


async def _idle(pilot) -> None:  # type: ignore[no-untyped-def]
    app = pilot.app
    for _ in range(500):
        if (
            app.keys.pending == 0
            and not app.workers._workers  # noqa: SLF001
            and not getattr(app.screen, "busy", False)
            and not getattr(app.screen, "checking", False)
        ):
            break
        await pilot.pause(0.02)
    await pilot.pause()


def main() -> None:
    with tempfile.TemporaryDirectory() as home:
        os.environ["D400_HOME"] = home
        os.environ["D400_CONFIG"] = str(Path(home) / "none.toml")
        os.environ.pop("D400_DB_URL", None)
        os.environ.pop("D400_LANG", None)
        results = asyncio.run(run())
    print(f"keystrokes {datetime.now():%Y-%m-%d %H:%M} (ORDENT, cursor on the customer field)")
    failed = False
    for name, data, other, ok in results:
        was = BEFORE.get(name)
        before = f"   before issue 11: data {was[0]}, other {was[1]}, total {sum(was)}" if was else ""
        print(
            f"{name:<13} data {data:>2}, other {other:>2}, total {data + other:>2}"
            f"  {'approved' if ok else 'NOT APPROVED'}{before}"
        )
        failed |= not ok
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
