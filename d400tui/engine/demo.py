"""Reference data and demo orders: the embedded default is usable on first run, and tests and
benches get N orders in mixed states and channels (masked cards and acquirer tokens only)."""

from __future__ import annotations

import csv
import random
from collections.abc import Callable
from datetime import date, datetime, timedelta
from decimal import Decimal

from d400tui.acquirers.base import Acquirer, PaymentSource
from d400tui.data import data_path
from d400tui.domain import model as m
from d400tui.domain.cards import CardData, parse_expiry
from d400tui.store.db import Database
from d400tui.store.demo_load import demo_basis, insert_orders, insert_reference, sync_order_ids

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


def generate_orders(
    db: Database,
    n: int,
    cards: list[tuple[str, str, str, str, str]],
    today: date | None = None,
    seed: int = 400,
    all_due: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> int:
    """Insert `n` orders in mixed states and channels with SQLAlchemy Core (fast enough for 1M).

    With `all_due`, every order is a validated phone card order due today without authorization —
    the pre-check bench's workload. Returns the number inserted."""
    rnd = random.Random(seed)
    today = today or date.today()
    arts, cust_ids, start = demo_basis(db)
    if not arts or not cust_ids:
        raise ValueError("reference data missing: run d400 db upgrade first")
    chunk = 2000
    done = 0
    now = datetime.now()
    while done < n:
        size = min(chunk, n - done)
        orders, lines, insts = [], [], []
        for k in range(size):
            oid = start + done + k
            if all_due:
                channel, status, method = "PHONE", "VALIDATED", "CARD"
            else:
                channel = rnd.choices(["PHONE", "MAIL", "WEB"], [70, 15, 15])[0]
                status = rnd.choices(["VALIDATED", "DRAFT", "INVOICED", "CANCELLED"], [60, 10, 20, 10])[0]
                method = rnd.choices(["CARD", "CHEQUE", "TRANSFER"], [80, 12, 8])[0]
            card = rnd.choice(cards) if method == "CARD" and cards else None
            odate = today - timedelta(days=0 if all_due else rnd.randint(0, 40))
            nlines = rnd.randint(1, 4)
            total = Decimal("0.00")
            for ln in range(1, nlines + 1):
                code, label, price, vat = rnd.choice(arts)
                qty = rnd.randint(1, 3)
                line = m.OrderLine(code, label, qty, price, vat)
                total += line.gross
                lines.append(
                    dict(
                        order_id=oid,
                        line_no=ln,
                        article_code=code,
                        label=label,
                        quantity=qty,
                        unit_price=price,
                        vat_rate=vat,
                    )
                )
            plan = "immediate"
            if not all_due and rnd.random() < 0.15:
                plan = "instalments:3"
                parts = m.Plan(m.PlanKind.INSTALMENTS, count=3).schedule(total, odate)
            else:
                parts = m.Plan().schedule(total, odate)
            inst_state = {"INVOICED": "CAPTURED", "CANCELLED": "CANCELLED"}.get(status, "PENDING")
            for p in parts:
                insts.append(
                    dict(
                        order_id=oid,
                        seq=p.seq,
                        due_date=p.due_date,
                        amount=p.amount,
                        state=inst_state,
                        auth_pending=False,
                    )
                )
            orders.append(
                dict(
                    id=oid,
                    customer_id=rnd.choice(cust_ids),
                    channel=channel,
                    payment_method=method,
                    plan=plan,
                    status=status,
                    hold="NONE",
                    awaiting_decision=False,
                    total=total,
                    card_token=card[0] if card else None,
                    card_brand=card[1] if card else None,
                    card_first6=card[2] if card else None,
                    card_last4=card[3] if card else None,
                    card_expiry=card[4] if card else None,
                    cancel_reason="client injoignable" if status == "CANCELLED" else None,
                    created_by="DEMO",
                    created_at=now,
                    order_date=odate,
                    updated_at=now,
                    version=1,
                )
            )
        insert_orders(db, orders, lines, insts)
        done += size
        if progress:
            progress(done, n)
    sync_order_ids(db)
    return done
