"""Reference data and demo orders: the embedded default is usable on first run, and tests and
benches get N orders in mixed states and channels (masked cards and acquirer tokens only)."""

from __future__ import annotations

import csv
import random
from bisect import bisect
from collections.abc import Callable
from datetime import date, datetime, timedelta
from decimal import Decimal
from itertools import accumulate
from typing import Any

from d400tui.acquirers.base import Acquirer, PaymentSource
from d400tui.data import data_path
from d400tui.domain.cards import CardData, parse_expiry
from d400tui.domain.model import add_months
from d400tui.domain.money import money, to_cents
from d400tui.store.db import Database
from d400tui.store.demo_load import BulkOrders, demo_basis, insert_reference

from .operators import seed_operators

DEMO_OPERATORS = (("OPER1", "oper1-demo", False), ("SUPER1", "super1-demo", True))
# Cards of the demo's own (data/test_cards.csv, ceilings no demo reaches), tokenized once (the token,
# never the number, goes on orders): a pre-check of demo orders holds amounts on these, so the
# README's test cards still behave as the README says afterwards.
DEMO_CARDS = (("4970109000000015", "12/30"), ("5130109000000019", "06/31"))


def seed_reference(db: Database) -> bool:
    """Articles and customers, once; never an operator (the first supervisor comes from
    `d400 db init --admin` or `seed_demo_operators`). Returns True when it seeded."""
    with db.uow() as uow:
        if uow.customers.count():
            return False
        with open(data_path("demo/articles.csv"), newline="", encoding="utf-8") as f:
            arts = [
                dict(
                    code=r["code"],
                    label=r["label"],
                    unit_price=Decimal(r["unit_price"]),
                    vat_rate=Decimal(r["vat_rate"]),
                )
                for r in csv.DictReader(f)
            ]
        with open(data_path("demo/customers.csv"), newline="", encoding="utf-8") as f:
            custs = [
                dict(id=int(r["id"]), name=r["name"], postcode=r["postcode"], city=r["city"], phone=r["phone"])
                for r in csv.DictReader(f)
            ]
    return insert_reference(db, arts, custs)  # False: another process seeded them at the same moment


def seed_demo_operators(db: Database) -> int:
    """OPER1 and SUPER1 with the README's passwords: only for the embedded default's first run
    and tests, never on a database someone else set up. Returns how many were added."""
    return seed_operators(db, DEMO_OPERATORS)


async def demo_tokens(acquirer: Acquirer) -> list[tuple[str, str, str, str, str]]:
    """(token, brand, first6, last4, expiry) for the demo cards, through a zero-amount verify."""
    out = []
    for pan, exp in DEMO_CARDS:
        card = CardData(pan, parse_expiry(exp))
        if card.brand not in acquirer.brands:
            continue
        resp = await acquirer.verify(PaymentSource(card=card), f"demo-verify-{random.getrandbits(64):x}")
        if resp.token:
            mc = card.masked
            out.append((resp.token, mc.brand.value, mc.first6, mc.last4, mc.expiry))
    return out


def _gross_cents(price: Decimal, vat: Decimal, qty: int) -> int:
    """A line's amount incl. VAT in cents, as OrderLine.gross computes it."""
    net = money(price * qty)
    return to_cents(net + money(net * vat / 100))


def _split_cents(total: int, parts: int) -> list[int]:
    """money.split in cents: equal parts, the first takes the remainder."""
    base, rest = divmod(total, parts)
    return [base + rest] + [base] * (parts - 1)


def generate_orders(
    db: Database,
    n: int,
    cards: list[tuple[str, str, str, str, str]],
    today: date | None = None,
    seed: int = 400,
    all_due: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> int:
    """Insert `n` orders in mixed states and channels: rows built as tuples, amounts in cents
    computed here once per (article, quantity), loaded by the store in bulk (COPY on PostgreSQL),
    then the tables analyzed so the runs' plans see the rows. A million orders in about a minute.

    With `all_due`, every order is a validated phone card order due today without authorization —
    the pre-check bench's workload. Returns the number inserted."""
    rnd = random.Random(seed)
    today = today or date.today()
    arts, cust_ids, start = demo_basis(db)
    if not arts or not cust_ids:
        raise ValueError("reference data missing: run d400 db upgrade first")
    gross = {(code, q): _gross_cents(price, vat, q) for code, _, price, vat in arts for q in (1, 2, 3)}
    priced = [(code, label, to_cents(price), to_cents(vat)) for code, label, price, vat in arts]
    days = [today - timedelta(days=d) for d in range(41)]
    months = {d: [add_months(d, k) for k in range(3)] for d in days}
    # rnd.choices(population, weights)[0], drawn the same way (the same orders for a seed) at a
    # fraction of the cost: it is the generator's hot spot
    mixes = [
        (pop, list(accumulate(w)), float(sum(w)), len(pop) - 1)
        for pop, w in (
            (["PHONE", "MAIL", "WEB"], [70, 15, 15]),
            (["VALIDATED", "DRAFT", "INVOICED", "CANCELLED"], [60, 10, 20, 10]),
            (["CARD", "CHEQUE", "TRANSFER"], [80, 12, 8]),
        )
    ]
    draw = rnd.random
    inst_states = {"INVOICED": "CAPTURED", "CANCELLED": "CANCELLED"}
    chunk = 20_000
    done = 0
    now = datetime.now()
    bulk = BulkOrders(db)
    try:
        while done < n:
            size = min(chunk, n - done)
            orders: list[tuple[Any, ...]] = []
            lines: list[tuple[Any, ...]] = []
            insts: list[tuple[Any, ...]] = []
            for k in range(size):
                oid = start + done + k
                if all_due:
                    channel, status, method = "PHONE", "VALIDATED", "CARD"
                else:
                    channel, status, method = (pop[bisect(cum, draw() * wsum, 0, hi)] for pop, cum, wsum, hi in mixes)
                card = rnd.choice(cards) if method == "CARD" and cards else None
                odate = today if all_due else days[rnd.randint(0, 40)]
                total = 0
                for ln in range(1, rnd.randint(1, 4) + 1):
                    code, label, price, vat = rnd.choice(priced)
                    qty = rnd.randint(1, 3)
                    total += gross[(code, qty)]
                    lines.append((oid, ln, code, label, qty, price, vat))
                parts = 3 if not all_due and rnd.random() < 0.15 else 1
                inst_state = inst_states.get(status, "PENDING")
                scope = (
                    None if status != "VALIDATED" else "CARD" if channel == "PHONE" and method == "CARD" else "OTHER"
                )
                for seq, amount in enumerate(_split_cents(total, parts), 1):
                    insts.append((oid, seq, months[odate][seq - 1], amount, inst_state, False, scope))
                orders.append(
                    (
                        oid,
                        rnd.choice(cust_ids),
                        channel,
                        method,
                        "instalments:3" if parts == 3 else "immediate",
                        status,
                        "NONE",
                        False,
                        total,
                        *(card if card else (None,) * 5),
                        "client injoignable" if status == "CANCELLED" else None,
                        "DEMO",
                        now,
                        odate,
                        now,
                        1,
                    )
                )
            bulk.insert(orders, lines, insts)
            done += size
            if progress:
                progress(done, n)
    finally:
        bulk.close()  # the chunks given are written (a failed write is raised here)
    bulk.finish()
    return done
