"""The crash invariants: one definition, checked by the crash and concurrency benches
(bench/crash.py, bench/concurrency.py) and by the resilience tests after a kill, a race or a fuzzed run.

- every hold the issuer made is known to the database under its idempotency key;
- no APPROVED authorization without a live or captured hold at the issuer;
- every live hold belongs to a live (APPROVED) authorization of an open instalment, at most one
  live hold per instalment (each authorization row has at most one by construction of the key);
- nothing captured twice or above its authorization, issuer and database agree on captures;
- after reconciliation nothing is left REQUESTED, UNKNOWN or with a pending void;
- with two acquirers (issue 13.5, a failover), all of the above over both issuers: a hold on
  either under any key of one instalment counts, and a hold sits on the issuer its row names
  (voids, captures and reconciliation go there);
- orders (`check_ledger`): exactly one row per order the driver saw committed, at most one per
  order in flight at the kill, none unexplained (the driver tags each order with a unique `created_by`)."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

INFLIGHT = "in-flight"
"""Tag of what a REQUESTED row younger than the reconciler's grace period explains: the engine
leaves such a row alone (a live terminal may still be waiting for its answer), so right after a
kill its hold is legitimately not settled yet. Past the grace, `d400 reconcile` settles it."""
VOID_ON_DECLINED = "void-pending-on-declined"
"""Engine bug found by this harness: a void asked while the authorization was UNKNOWN (cancel, delete)
stays PENDING for good when the reconciler finds the authorization DECLINED (nothing to void)."""


@dataclass(frozen=True)
class Violation:
    kind: str
    text: str
    bug: str = ""  # what explains it (INFLIGHT), if anything

    @property
    def known_bug(self) -> bool:
        return bool(self.bug)

    def __str__(self) -> str:
        return f"{f'[{self.bug}] ' if self.bug else ''}{self.kind}: {self.text}"


def check_invariants(  # type: ignore[no-untyped-def]
    db,
    issuer,
    settled: bool = True,
    inflight_grace_s: float | None = None,
) -> list[Violation]:
    """`db`: a d400tui Database; `issuer`: an Issuer on the acquirer's state file, or with a
    failover {acquirer name (authorizations.acquirer): Issuer}, the first acquirer first (it also
    answers for rows naming no acquirer of the map). `settled`: the reconciler has run with the
    acquirers up, so nothing may be left in flight. `inflight_grace_s`: violations that involve a
    REQUESTED row younger than this are tagged INFLIGHT (not settled yet by design); None: no row
    is excused."""
    from datetime import datetime

    from sqlalchemy import select

    from d400tui.store import tables as t

    a, i, o = t.authorizations, t.instalments, t.orders
    with db.engine.connect() as conn:
        auths = {
            r.id: r
            for r in conn.execute(
                select(
                    a.c.id,
                    a.c.order_id,
                    a.c.instalment_id,
                    a.c.kind,
                    a.c.state,
                    a.c.amount,
                    a.c.captured_amount,
                    a.c.idempotency_key,
                    a.c.acquirer_ref,
                    a.c.void_state,
                    a.c.requested_at,
                    a.c.acquirer,
                )
            )
        }
        insts = {r.id: r for r in conn.execute(select(i.c.id, i.c.order_id, i.c.amount, i.c.state, i.c.auth_pending))}
        orders = {r.id: r for r in conn.execute(select(o.c.id, o.c.status))}
    by_key = {r.idempotency_key: r for r in auths.values()}
    issuers = issuer if isinstance(issuer, dict) else {"": issuer}
    first = next(iter(issuers))
    two = len(issuers) > 1

    def home(r) -> str:  # type: ignore[no-untyped-def]
        """The issuer a row's voids, captures and status questions go to."""
        return r.acquirer if r.acquirer in issuers else first

    def at(name: str, ref: str) -> str:
        return f"{name}:{ref}" if two else ref

    hold_keys: dict[tuple[str, str], str] = {}  # (issuer, key) -> ref
    holds: dict[tuple[str, str], tuple] = {}  # type: ignore[type-arg]  # (issuer, ref) -> (ref, state, amount, captured)
    for name, iss in issuers.items():
        hold_keys.update({(name, key): ref for key, ref in iss.hold_keys().items()})
        holds.update({(name, h[0]): h for h in iss.holds()})
    ref_key = {(name, ref): key for (name, key), ref in hold_keys.items()}
    out: list[Violation] = []

    young = (datetime.now() - timedelta(seconds=inflight_grace_s)) if inflight_grace_s is not None else None

    def add(kind: str, text: str, *rows) -> None:  # type: ignore[no-untyped-def]
        bug = ""
        if young is not None and any(
            r is not None and st(r.state) == "REQUESTED" and r.requested_at and r.requested_at > young for r in rows
        ):
            bug = INFLIGHT
        out.append(Violation(kind, text, bug))

    def st(r) -> str:  # type: ignore[no-untyped-def]
        return str(getattr(r, "value", r))

    # 1. every hold known under its key, on the issuer its row names
    for (name, key), ref in hold_keys.items():
        r = by_key.get(key)
        if r is None:
            add("unknown-hold", f"issuer hold {at(name, ref)} under key {key} unknown to the database")
        elif home(r) != name:
            add("misplaced-hold", f"issuer hold {at(name, ref)} of authorization {r.id}, which names {r.acquirer}", r)
    # 2. APPROVED rows have a live or captured hold
    for r in auths.values():
        if st(r.kind) != "AUTHORIZE" or st(r.state) != "APPROVED":
            continue
        h = holds.get((home(r), r.acquirer_ref or ""))
        if h is None:
            add("approved-without-hold", f"authorization {r.id} APPROVED, issuer has no hold {r.acquirer_ref}", r)
        elif h[1] not in ("APPROVED", "CAPTURED") and not (st(r.void_state) == "PENDING" and not settled):
            add("approved-without-hold", f"authorization {r.id} APPROVED, issuer hold {h[0]} is {h[1]}", r)
    # 3. live holds belong to live rows of open instalments, one per instalment (over every issuer)
    per_inst: dict[int | None, list[tuple[str, str]]] = defaultdict(list)
    for (name, ref), h in holds.items():
        if h[1] != "APPROVED":
            continue
        key = ref_key.get((name, ref))
        r = by_key.get(key or "")
        if r is None:
            continue  # reported by 1
        live_ok = ("APPROVED",) if settled else ("APPROVED", "UNKNOWN", "REQUESTED", "EXPIRED")
        if st(r.state) not in live_ok:
            add("leaked-hold", f"issuer hold {at(name, ref)} live, authorization {r.id} is {st(r.state)}", r)
            continue
        inst = insts.get(r.instalment_id)
        order = orders.get(r.order_id)
        if settled and (
            inst is None
            or st(inst.state) != "PENDING"
            or order is None
            or st(order.status) in ("CANCELLED", "DELETED", "INVOICED")
        ):
            add(
                "leaked-hold",
                f"issuer hold {at(name, ref)} live for authorization {r.id}, instalment "
                f"{st(inst.state) if inst else '?'}, order {st(order.status) if order else '?'}",
                r,
            )
        per_inst[r.instalment_id].append((name, ref))
    for inst_id, live in per_inst.items():
        if len(live) > 1:
            rows = [by_key.get(ref_key.get(x, "")) for x in live]
            add("double-hold", f"instalment {inst_id} has {len(live)} live holds {[at(*x) for x in live]}", *rows)
    # 4. captures
    captured_per_inst: dict[int | None, list] = defaultdict(list)  # type: ignore[type-arg]
    for (name, ref), h in holds.items():
        if h[1] == "CAPTURED":
            if h[3] > h[2]:
                add("over-capture", f"issuer hold {at(name, ref)} captured {h[3]} > authorized {h[2]} cents")
            r = by_key.get(ref_key.get((name, ref), ""))
            if r is not None:
                captured_per_inst[r.instalment_id].append(r)
                if settled and st(r.state) != "CAPTURED":
                    add(
                        "capture-not-recorded",
                        f"issuer captured hold {at(name, ref)}, authorization {r.id} is {st(r.state)} after reconcile",
                        r,
                    )
    for inst_id, caps in captured_per_inst.items():
        if len(caps) > 1:
            add("double-capture", f"instalment {inst_id} captured {len(caps)} times at the issuer", *caps)
    for r in auths.values():
        if r.captured_amount > r.amount:
            add("over-capture", f"authorization {r.id} captured {r.captured_amount} > {r.amount}", r)
        if st(r.state) == "CAPTURED":
            h = holds.get((home(r), r.acquirer_ref or ""))
            if h is None or h[1] != "CAPTURED":
                add("capture-mismatch", f"authorization {r.id} CAPTURED, issuer hold is {h[1] if h else 'absent'}", r)
            elif h[3] != int(r.captured_amount * 100):
                add("capture-mismatch", f"authorization {r.id} captured {r.captured_amount}, issuer {h[3]} cents", r)
    for inst in insts.values():
        if st(inst.state) == "CAPTURED":
            caps = [r for r in auths.values() if r.instalment_id == inst.id and st(r.state) == "CAPTURED"]
            if len(caps) != 1:
                add("capture-mismatch", f"instalment {inst.id} CAPTURED with {len(caps)} captured authorizations")
            elif caps[0].captured_amount > inst.amount:
                add("over-capture", f"instalment {inst.id} captured above its amount")
    # 5. nothing left in flight once reconciled
    if settled:
        for r in auths.values():
            if st(r.state) == "DECLINED" and st(r.void_state) == "PENDING" and not r.acquirer_ref:
                out.append(
                    Violation(
                        "unsettled",
                        f"authorization {r.id} (order {r.order_id}) DECLINED, void PENDING after reconcile",
                        VOID_ON_DECLINED,
                    )
                )
            elif st(r.state) in ("REQUESTED", "UNKNOWN") or st(r.void_state) == "PENDING":
                add(
                    "unsettled",
                    f"authorization {r.id} (order {r.order_id}) {st(r.state)} void {st(r.void_state)} after reconcile",
                    r,
                )
        stuck = {r.instalment_id for r in auths.values() if st(r.state) == "REQUESTED"}
        for inst in insts.values():
            if inst.auth_pending and inst.id not in stuck:
                add("unsettled", f"instalment {inst.id} still auth_pending with nothing in flight")
    return out


def check_ledger(db, journal: Path) -> list[Violation]:  # type: ignore[no-untyped-def]
    """Orders the driver journaled vs the orders in the database (by their unique created_by tag)."""
    from sqlalchemy import func, select

    from d400tui.store import tables as t

    begun: set[str] = set()
    committed: dict[str, int] = {}
    refused: set[str] = set()
    final: dict[int, set[str]] = {}
    if journal.exists():
        for line in journal.read_text().splitlines():
            parts = line.split()
            if len(parts) < 2:
                continue  # a line cut by the kill
            if parts[0] == "B":
                begun.add(parts[1])
            elif parts[0] == "C" and len(parts) == 3:
                committed[parts[1]] = int(parts[2])
            elif parts[0] == "R":
                refused.add(parts[1])
            elif parts[0] == "F" and len(parts) == 3:
                final[int(parts[1])] = set(parts[2].split(","))
    o = t.orders
    with db.engine.connect() as conn:
        rows = conn.execute(
            select(o.c.created_by, func.count(), func.min(o.c.id))
            .where(o.c.created_by.like("K%"))
            .group_by(o.c.created_by)
        ).all()
        status = dict(conn.execute(select(o.c.id, o.c.status)).all())
    in_db = {r[0]: (r[1], r[2]) for r in rows}
    out: list[Violation] = []
    for tag, (n, _) in in_db.items():
        if n > 1:
            out.append(Violation("duplicated-order", f"{n} orders tagged {tag}"))
        if tag not in begun:
            out.append(Violation("unexplained-order", f"order tagged {tag} never begun by the driver"))
    for tag, oid in committed.items():
        got = in_db.get(tag)
        if got is None:
            out.append(Violation("lost-order", f"driver committed order {oid} ({tag}), not in the database"))
        elif got[1] != oid:
            out.append(Violation("lost-order", f"driver committed order {oid} ({tag}), database has {got[1]}"))
    for tag in refused:
        if tag in in_db and tag not in committed:
            out.append(Violation("refused-but-saved", f"order {tag} refused to the driver but saved"))
    for oid, allowed in final.items():
        s = str(getattr(status.get(oid), "value", status.get(oid)))
        if s not in allowed:
            out.append(Violation("lost-update", f"order {oid} is {s}, driver saw it become {sorted(allowed)}"))
    return out


def ledger_counts(journal: Path) -> tuple[int, int, Counter[str]]:
    """(orders begun, orders committed, operations by outcome) from a journal."""
    begun = committed = 0
    ops: Counter[str] = Counter()
    if journal.exists():
        for line in journal.read_text().splitlines():
            parts = line.split()
            if not parts:
                continue
            if parts[0] == "B":
                begun += 1
            elif parts[0] == "C":
                committed += 1
            elif parts[0] == "O" and len(parts) >= 3:
                ops[f"{parts[1]}:{parts[2]}"] += 1
    return begun, committed, ops
