"""The `d400` command. Every command builds a request and calls the engine; errors are one clear
line and a non-zero exit, never a traceback. The card number is read from standard input only.

Who must sign on (D400_OPERATOR / D400_PASSWORD, or asked on a terminal): every command that reads
or changes data. Only these run without: `--help`, `db init --admin NAME` (refused once the
database has an operator), `db upgrade` on a database with no operator yet (a supervisor's job
afterwards), `acquirer serve` (the simulator: its own state, no order data) and `d400` alone
(the TUI, which has its own sign-on screen)."""

from __future__ import annotations

import getpass
import json
import logging
import re
import sys
import weakref
from collections.abc import Callable, Coroutine
from dataclasses import asdict, is_dataclass
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any, TypeVar

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from d400tui import aio
from d400tui.config import Settings, load_settings
from d400tui.domain import model as m
from d400tui.domain.cards import CardData, card_from_entry, scrub
from d400tui.i18n.engine_text import tx

app = typer.Typer(help="d400 — phone order entry with real-time card authorization.", no_args_is_help=False,
                  add_completion=False, pretty_exceptions_enable=False)
db_app = typer.Typer(help="Database: migrations and demo data.")
order_app = typer.Typer(help="Orders: entry, decisions, cancellation, payment changes.")
customer_app = typer.Typer(help="Customers (the CLI's F4 prompt).")
article_app = typer.Typer(help="Articles (the CLI's F4 prompt).")
operator_app = typer.Typer(help="Operators and supervisors.")
acquirer_app = typer.Typer(help="Acquirers: serve the simulator, check the configured one.")
for sub, name in ((db_app, "db"), (order_app, "order"), (customer_app, "customer"), (article_app, "article"),
                  (operator_app, "operator"), (acquirer_app, "acquirer")):
    app.add_typer(sub, name=name)

out = Console()
err = Console(stderr=True)
T = TypeVar("T")


class CliError(Exception):
    pass


log = logging.getLogger("d400.cli")
MAX_NUMBER = 2_147_483_647
"""Order and customer numbers are INTEGER columns: a larger number is refused at the edge."""
_ESCAPES = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b.?|"
                      r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2066-\u2069]")


def clean(text: str, limit: int = 300) -> str:
    """What may reach the terminal of a text built from user input: terminal escape sequences and
    control characters removed first (so none hides a card number from the scrubber), card
    numbers masked, one line, at most `limit` characters."""
    text = _ESCAPES.sub("", text[:4 * limit])
    text = " ".join(scrub(text).split())
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _quote(value: str) -> str:
    return f"'{clean(value, 30)}'"


def _number() -> Any:
    return typer.Argument(..., min=1, max=MAX_NUMBER, help="Order number.")


# -- plumbing ---------------------------------------------------------------------------------
def _settings() -> Settings:
    return load_settings()


_actors: weakref.WeakKeyDictionary[Any, m.Actor] = weakref.WeakKeyDictionary()


def _database(settings: Settings):  # type: ignore[no-untyped-def]
    """The configured database as it is: never migrated or seeded silently by a data command."""
    from d400tui.engine.bootstrap import open_database
    from d400tui.store.db import HEAD

    db = open_database(settings, migrate=False)
    revision = db.current_revision()
    if revision != HEAD:
        db.dispose()
        if revision is None:
            raise CliError("database not initialised: d400 db init --admin NAME")
        raise CliError(f"database at revision {clean(revision, 12)}, this d400 needs {HEAD}: d400 db upgrade")
    return db


def _sign_on(db, settings: Settings) -> m.Actor:  # type: ignore[no-untyped-def]
    """CLI identity: D400_OPERATOR and D400_PASSWORD, or asked on the terminal."""
    from d400tui.engine.operators import sign_on

    name = settings.operator
    password = settings.password.get_secret_value() if settings.password else None
    if not name or password is None:
        if not sys.stdin.isatty():
            raise CliError("sign on first: set D400_OPERATOR and D400_PASSWORD")
        name = name or typer.prompt("Operator")
        password = getpass.getpass("Password: ")
    return sign_on(db, name, password)


def _signed_db() -> tuple[Settings, Any, m.Actor]:
    settings = _settings()
    db = _database(settings)
    try:
        return settings, db, _sign_on(db, settings)
    except BaseException:
        db.dispose()
        raise


def _engine():  # type: ignore[no-untyped-def]
    """The engine, once its user has signed on (before any acquirer is built)."""
    from d400tui.engine import open_engine

    settings, db, actor = _signed_db()
    engine = open_engine(settings, db=db)
    _actors[engine] = actor
    return engine


def _actor(engine) -> m.Actor:  # type: ignore[no-untyped-def]
    """Who signed on for this engine (`_engine` refuses to build one otherwise)."""
    return _actors[engine]


def _run(coro: Coroutine[Any, Any, T]) -> T:
    return aio.run(coro)


async def _with_close(engine, coro: Coroutine[Any, Any, T]) -> T:  # type: ignore[no-untyped-def]
    try:
        return await coro
    finally:
        await engine.acquirer.close()


def _plain(obj: Any) -> Any:
    """JSON-safe view of engine results (Decimal as string, enums as values, no card token)."""
    if isinstance(obj, Enum):
        return obj.value
    if isinstance(obj, Decimal):
        return str(obj)
    if isinstance(obj, datetime | date):
        return obj.isoformat()
    if is_dataclass(obj) and not isinstance(obj, type):
        d = asdict(obj)
        d.pop("card_token", None)
        d.pop("password_hash", None)
        return {k: _plain(v) for k, v in d.items()}
    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_plain(v) for v in obj]
    return obj


def _json(obj: Any) -> None:
    out.print_json(json.dumps(_plain(obj), ensure_ascii=False))


def _stdin(size: int) -> list[str]:
    try:
        return sys.stdin.read(size).splitlines()
    except UnicodeDecodeError:
        raise CliError("standard input: text expected (UTF-8)") from None


def _read_card(expiry: str, need_cvv: bool = False) -> CardData:
    """Card number (and optional CVV on a second line) from standard input, never from argv."""
    if sys.stdin.isatty():
        pan = getpass.getpass("Card number: ")
        cvv = getpass.getpass("CVV (optional): ")
    else:
        data = _stdin(4096)
        pan = data[0] if data else ""
        cvv = data[1].strip() if len(data) > 1 else ""
    return card_from_entry(pan, expiry, cvv or None, date.today())


def _progress(label: str, quiet: bool) -> tuple[Progress | None, Callable[[int, int], None] | None]:
    if quiet:
        return None, None
    bar = Progress(TextColumn(label), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=err)
    task = bar.add_task(label, total=None)

    def update(done: int, total: int) -> None:
        bar.update(task, completed=done, total=total)

    return bar, update


def _answer_line(result) -> str:  # type: ignore[no-untyped-def]
    from d400tui.i18n import get_lang
    from d400tui.i18n_core import headline

    lines = [f"order {result.order.id} {result.order.status.value} hold={result.order.hold.value}"]
    if result.note:
        lines.append(tx(result.note))
    for v in result.voids:
        lines.append(f"void: {tx(v.message)}")
    for a in result.answers:
        what = "verify" if a.kind is m.AuthKind.VERIFY else f"instalment {a.instalment_seq} {a.amount} EUR"
        if a.approved:
            lines.append(f"{what}: APPROVED authorization {a.auth_code} (code {a.code})")
        else:
            lines.append(f"{what}: {a.state.value} {a.category.value} — {headline(a.category, get_lang())} — "
                         f"code {a.code} {tx(a.label)}")
    if result.needs_decision:
        lines.append(f"operator decision needed: d400 order decide {result.order.id} block|release|retry")
    return "\n".join(lines)


def _print_result(result, as_json: bool) -> None:  # type: ignore[no-untyped-def]
    if as_json:
        _json({"order": result.order.id, "status": result.order.status, "hold": result.order.hold,
               "note": result.note, "answers": result.answers, "voids": result.voids,
               "needs_decision": result.needs_decision})
    else:
        out.print(_answer_line(result), markup=False, highlight=False)


def _parse_date(text: str | None) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise CliError(f"date: YYYY-MM-DD expected, got {_quote(text)}") from exc


# -- top level ----------------------------------------------------------------------------------
@app.callback(invoke_without_command=True)
def root(ctx: typer.Context) -> None:
    """With no command: open the TUI on the configured database (created and seeded on first run)."""
    if ctx.invoked_subcommand is None:
        from d400tui.app import run_tui
        from d400tui.engine.bootstrap import first_run

        settings = _settings()
        first_run(settings)
        run_tui(settings)


@db_app.command("init")
def db_init(admin: str = typer.Option(..., "--admin", help="Name of the first supervisor.")) -> None:
    """Create the schema, reference data and the first supervisor (password asked twice, or two
    lines on stdin). Refused once the database has an operator: supervisors add the others."""
    from d400tui.engine.bootstrap import init_database, open_database
    from d400tui.engine.operators import check_name, has_operators, operator_count

    db = open_database(_settings(), migrate=False)
    if operator_count(db):
        raise has_operators()
    check_name(admin)  # the name first: a bad one is said before any password is asked
    op = init_database(db, admin, _password_twice())
    out.print(f"database at revision {db.current_revision()} ({db.dialect}); supervisor {op.name} created")


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply the Alembic migrations (supervisors, once the database has operators)."""
    from d400tui.engine.bootstrap import open_database, upgrade_database
    from d400tui.engine.operators import operator_count

    settings = _settings()
    db = open_database(settings, migrate=False)
    actor = _sign_on(db, settings) if operator_count(db) else None
    revision = upgrade_database(db, actor)
    out.print(f"database at revision {revision} ({db.dialect})")


@db_app.command("demo")
def db_demo(orders: int = typer.Option(200, "--orders", min=0, max=5_000_000, help="Demo orders to add.")) -> None:
    """Add N demo orders in mixed states and channels (supervisors)."""
    from d400tui.engine.bootstrap import WHAT_DEMO
    from d400tui.engine.demo import demo_tokens, generate_orders
    from d400tui.engine.operators import require_supervisor

    engine = _engine()
    require_supervisor(_actor(engine), WHAT_DEMO)
    cards = _run(_with_close(engine, demo_tokens(engine.acquirer)))
    bar, update = _progress("demo orders", orders < 5000)
    if bar:
        with bar:
            n = generate_orders(engine.db, orders, cards, progress=update)
    else:
        n = generate_orders(engine.db, orders, cards)
    out.print(f"{n} demo orders added")


# -- orders ---------------------------------------------------------------------------------------
def _lines(values: list[str]) -> list[tuple[str, int]]:
    lines = []
    for v in values:
        code, sep, qty = v.partition(":")
        if not sep or not code.strip():
            raise CliError(f"--line ARTICLE:QTY expected, got {_quote(v)}")
        if not qty.strip().isascii() or not qty.strip().isdigit() or not 1 <= int(qty) <= 9999:
            raise CliError(f"quantity of {_quote(code[:12])}: a whole number from 1 to 9999")
        lines.append((code.strip().upper(), int(qty)))
    return lines


@order_app.command("new")
def order_new(
    customer: int = typer.Option(..., "--customer", min=1, max=MAX_NUMBER, help="Customer number."),
    line: list[str] = typer.Option(..., "--line", help="ARTICLE:QTY, repeatable."),
    expiry: str = typer.Option("", "--expiry", help="Card expiry MM/YY (card read from stdin)."),
    plan: str = typer.Option("immediate", "--plan", help="immediate | deferred:YYYY-MM-DD | instalments:N"),
    channel: m.Channel = typer.Option(m.Channel.PHONE, "--channel", case_sensitive=False),
    method: m.PaymentMethod = typer.Option(m.PaymentMethod.CARD, "--method", case_sensitive=False),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Take an order and validate it: prints the order number and the authorization answer."""
    lines = _lines(line)
    the_plan = m.Plan.parse(plan, date.today())
    card = _read_card(expiry) if method is m.PaymentMethod.CARD else None
    engine = _engine()
    actor = _actor(engine)
    result = _run(_with_close(engine, engine.place_order(actor, customer, lines, card, channel, method, the_plan)))
    _print_result(result, as_json)
    if result.needs_decision:
        raise typer.Exit(3)


@order_app.command("list")
def order_list(
    status: m.OrderStatus | None = typer.Option(None, "--status", case_sensitive=False),
    hold: m.PaymentHold | None = typer.Option(None, "--hold", case_sensitive=False),
    customer: int | None = typer.Option(None, "--customer", min=1, max=MAX_NUMBER),
    channel: m.Channel | None = typer.Option(None, "--channel", case_sensitive=False),
    limit: int = typer.Option(20, "--limit", min=1, max=1000),
    after: int | None = typer.Option(None, "--after", min=1, max=MAX_NUMBER,
                                     help="Page: orders older than this number."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Orders, newest first, paged from the database."""
    from d400tui.engine.views import OrderFilter

    engine = _engine()
    rows = engine.list_orders(OrderFilter(status=status, hold=hold, customer_id=customer, channel=channel),
                              after_id=after, limit=limit)
    if as_json:
        _json(rows)
        return
    table = Table(box=None, pad_edge=False, padding=(0, 1, 0, 0), header_style="bold underline",
                  caption="* = en attente de décision opératrice", caption_justify="left")
    for name, justify in (("N°", "right"), ("Date", "left"), ("Client", "left"), ("Canal", "left"),
                          ("Statut", "left"), ("Blocage", "left"), ("Paie.", "left"), ("Total", "right"),
                          ("Carte", "left")):
        table.add_column(name, justify=justify, no_wrap=True)  # type: ignore[arg-type]
    for r in rows:
        table.add_row(f"{r.id}{'*' if r.awaiting_decision else ''}", f"{r.order_date:%d/%m/%y}",
                      r.customer_name[:16], r.channel, r.status[:9], r.hold, r.payment_method[:5],
                      f"{r.total}", f"…{r.card[-4:]}" if r.card else "")
    out.print(table)


@order_app.command("show")
def order_show(number: int = _number(), as_json: bool = typer.Option(False, "--json")) -> None:
    """One order: lines, instalments, authorization history, decisions."""
    engine = _engine()
    o = engine.get_order(number)
    if as_json:
        _json(o)
        return
    out.print(f"Commande {o.id}  client {o.customer_id}  {o.channel.value}  {o.status.value}  "
              f"blocage {o.hold.value}  {o.payment_method.value} {o.card or ''}  total {o.total} EUR", markup=False)
    for ln in o.lines:
        out.print(f"  {ln.article_code:<8} {ln.label[:40]:<40} {ln.quantity:>4} × {ln.unit_price} TVA {ln.vat_rate}%",
                  markup=False)
    for i in o.instalments:
        out.print(f"  échéance {i.seq} {i.due_date} {i.amount} EUR {i.state.value}", markup=False)
    for a in o.authorizations:
        out.print(f"  autorisation {a.id} {a.kind.value} {a.card} {a.amount} {a.state.value} code {a.response_code} "
                  f"{a.label or ''} n°{a.auth_code or '-'} réf {a.acquirer_ref or '-'} {a.requested_at:%Y-%m-%d %H:%M}"
                  f"{' annulation en attente' if a.void_state is m.VoidState.PENDING else ''}", markup=False)
    for d in o.decisions:
        out.print(f"  décision {d.kind.value} par {d.operator} le {d.at:%Y-%m-%d %H:%M} "
                  f"(affiché : {d.shown_category} {d.shown_code} {d.shown_label})", markup=False)


@order_app.command("decide")
def order_decide(
    number: int = _number(),
    decision: str = typer.Argument(..., help="block | release | retry"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Record the operator's decision on a refused or unanswered authorization."""
    kinds = {"block": m.DecisionKind.BLOCK, "release": m.DecisionKind.RELEASE, "retry": m.DecisionKind.RETRY}
    kind = kinds.get(decision.lower())
    if kind is None:
        raise CliError("decision: block, release or retry")
    engine = _engine()
    actor = _actor(engine)
    _print_result(_run(_with_close(engine, engine.decide(actor, number, kind))), as_json)


@order_app.command("cancel")
def order_cancel(number: int = _number(), reason: str = typer.Option(..., "--reason", help="Why (required)."),
                 as_json: bool = typer.Option(False, "--json")) -> None:
    """Cancel an order: its live authorizations are voided in real time."""
    engine = _engine()
    actor = _actor(engine)
    _print_result(_run(_with_close(engine, engine.cancel_order(actor, number, reason))), as_json)


@order_app.command("delete")
def order_delete(number: int = _number(), as_json: bool = typer.Option(False, "--json")) -> None:
    """Delete a non-invoiced order (kept in the audit trail); authorizations voided in real time."""
    engine = _engine()
    actor = _actor(engine)
    _print_result(_run(_with_close(engine, engine.delete_order(actor, number))), as_json)


@order_app.command("cancel-deferred")
def order_cancel_deferred(
    number: int = _number(),
    instalment: int = typer.Option(..., "--instalment", min=1, max=99, help="Instalment number."),
    drop: bool = typer.Option(False, "--drop", help="The deferred goods or service are cancelled."),
    pay_now: bool = typer.Option(False, "--pay-now", help="The amount becomes due now and is authorized."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Cancel a deferred payment: void its authorization, then drop it or make it due now."""
    if drop == pay_now:
        raise CliError("say what becomes of the amount: --drop or --pay-now")
    engine = _engine()
    actor = _actor(engine)
    _print_result(_run(_with_close(engine, engine.cancel_deferred(actor, number, instalment, pay_now))), as_json)


@order_app.command("change-payment")
def order_change_payment(
    number: int = _number(),
    method: m.PaymentMethod = typer.Option(..., "--method", case_sensitive=False),
    expiry: str = typer.Option("", "--expiry", help="New card expiry MM/YY (card read from stdin)."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Change the payment method: void the old card's authorizations, authorize the new card."""
    card = _read_card(expiry) if method is m.PaymentMethod.CARD else None
    engine = _engine()
    actor = _actor(engine)
    _print_result(_run(_with_close(engine, engine.change_payment_method(actor, number, method, card))), as_json)


# -- reference data ----------------------------------------------------------------------------
@customer_app.command("list")
def customer_list(search: str = typer.Option("", "--search"), limit: int = typer.Option(50, "--limit", min=1,
                                                                                     max=1000),
                  as_json: bool = typer.Option(False, "--json")) -> None:
    """Customers by name, postcode or city."""
    rows = _engine().search_customers(search[:100], limit)
    if as_json:
        _json(rows)
        return
    table = Table("N°", "Nom", "CP", "Ville")
    for c in rows:
        table.add_row(str(c.id), c.name, c.postcode, c.city)
    out.print(table)


@article_app.command("list")
def article_list(search: str = typer.Option("", "--search"), limit: int = typer.Option(50, "--limit", min=1,
                                                                                    max=1000),
                 as_json: bool = typer.Option(False, "--json")) -> None:
    """Articles by code or label."""
    rows = _engine().search_articles(search[:100], limit)
    if as_json:
        _json(rows)
        return
    table = Table("Code", "Libellé", "Prix HT", "TVA %")
    for a in rows:
        table.add_row(a.code, a.label, str(a.unit_price), str(a.vat_rate))
    out.print(table)


# -- batch runs -----------------------------------------------------------------------------------
def _run_summary(run: m.PrecheckRun, results: list[m.RunResult], as_json: bool) -> None:
    if as_json:
        _json({"run": run, "results": results})
        return
    out.print(f"{run.kind} run {run.id} for {run.run_date}: selected {run.selected}, approved {run.approved}, "
              f"refused {run.refused}, unavailable {run.unavailable}, skipped {run.skipped}", markup=False)
    other = getattr(run, "other_skipped", 0)
    if other:
        out.print(f"{other} due orders of other channels or methods left untouched (no real-time authorization)")
    for r in results:
        if r.outcome not in ("APPROVED", "CAPTURED"):
            out.print(f"  order {r.order_id} instalment {r.instalment_seq} {r.amount} EUR: {r.outcome} "
                      f"{r.code} {tx(r.reason)}", markup=False)


def _batch(kind: str, on: str | None, concurrency: int, as_json: bool) -> None:
    """Run a pre-check or capture with a progress bar (not under --json), then print its results."""
    run_date = _parse_date(on)
    engine = _engine()
    actor = _actor(engine)
    # refused before any progress bar is drawn (the run itself checks too), in the run's own words
    engine.require_supervisor(actor, "pré-contrôle de facturation" if kind == "pre-check" else "remise en paiement")
    bar, update = _progress(kind, as_json)
    run_it = engine.precheck if kind == "pre-check" else engine.capture

    async def go() -> m.PrecheckRun:
        return await _with_close(engine, run_it(actor, run_date, concurrency, update))

    if bar:
        with bar:
            run = _run(go())
    else:
        run = _run(go())
    _run_summary(run, engine.run_results(run.id, limit=200), as_json)


@app.command("precheck")
def precheck(
    on: str | None = typer.Option(None, "--date", help="Invoicing date YYYY-MM-DD (default today)."),
    concurrency: int = typer.Option(16, "--concurrency", min=1, max=512),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Invoicing pre-check (supervisors): authorize what needs it; refusals listed for decision."""
    _batch("pre-check", on, concurrency, as_json)


@app.command("capture")
def capture(
    on: str | None = typer.Option(None, "--date", help="Capture date YYYY-MM-DD (default today)."),
    concurrency: int = typer.Option(8, "--concurrency", min=1, max=256),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Capture due payments (supervisors), never above what was authorized; rerunnable."""
    _batch("capture", on, concurrency, as_json)


@app.command("reconcile")
def reconcile(as_json: bool = typer.Option(False, "--json")) -> None:
    """Settle UNKNOWN authorizations with the acquirer and finish pending voids."""
    engine = _engine()
    actor = _actor(engine)
    report = _run(_with_close(engine, engine.reconcile(actor)))
    if as_json:
        _json({"settled": report.settled, "still_unknown": report.still_unknown})
        return
    for line in report.lines or ["nothing to reconcile"]:
        out.print(tx(line), markup=False)
    if report.still_unknown:
        raise typer.Exit(4)


audit_app = typer.Typer(help="The append-only audit trail: list it, verify its hash chain.")
app.add_typer(audit_app, name="audit")


@audit_app.callback(invoke_without_command=True)
def audit(ctx: typer.Context, since: str | None = typer.Option(None, "--since", help="YYYY-MM-DD"),
          limit: int = typer.Option(200, "--limit", min=1, max=100000),
          as_json: bool = typer.Option(False, "--json")) -> None:
    """The append-only audit trail (sign-on, decisions, voids, captures, runs); `verify` checks it."""
    if ctx.invoked_subcommand is not None:
        return
    engine = _engine()
    actor = _actor(engine)
    rows = engine.audit_trail(actor, _parse_date(since), limit)
    if as_json:
        _json(rows)
        return
    for r in rows:
        at, who, what, oid = r["at"], r["actor"], r["action"], r["order_id"] or ""
        out.print(f"{at:%Y-%m-%d %H:%M:%S} {who:<8} {what:<18} {oid:>7} {r['detail']}",
                  markup=False, highlight=False)


@audit_app.command("verify", help="Check the hash chain (supervisors): the first broken link and exit 5, or the "
                                   "head hash to keep outside the database (a rewritten chain shows as another head).")
def audit_verify(expect: str = typer.Option("", "--expect", help="A head hash printed by an earlier verify and "
                                            "kept outside the database: it must still be in the chain."),
                 as_json: bool = typer.Option(False, "--json")) -> None:
    """Walk the chain; print the head hash so it can be recorded elsewhere (and checked with --expect)."""
    expect = expect.strip().lower()
    if expect and (len(expect) != 64 or any(c not in "0123456789abcdef" for c in expect)):
        raise CliError("--expect: a head hash of 64 hexadecimal characters, as verify prints it")
    engine = _engine()
    check = engine.verify_audit(_actor(engine), expect or None)
    if as_json:
        _json({"ok": check.ok, "checked": check.checked, "head_hash": check.head_hash,
               "broken_id": check.broken_id, "reason": check.reason})
    elif check.ok:
        out.print(f"audit chain intact: {check.checked} records, head {check.head_hash}", markup=False,
                  soft_wrap=True)
    elif check.broken_id is not None:
        err.print(f"d400: audit chain broken at record {check.broken_id}: {check.reason} "
                  f"({check.checked} records intact before it)", markup=False, soft_wrap=True)
    else:
        err.print(f"d400: audit chain broken: {check.reason}", markup=False, soft_wrap=True)
    if not check.ok:
        raise typer.Exit(5)


# -- operators ---------------------------------------------------------------------------------
def _password_twice() -> str:
    if sys.stdin.isatty():
        p1 = getpass.getpass("Password: ")
        p2 = getpass.getpass("Again: ")
    else:
        lines = _stdin(1024)
        p1, p2 = (lines + ["", ""])[:2]
    if p1 != p2:
        raise CliError("the two passwords differ")
    return p1


@operator_app.command("add")
def operator_add(name: str, supervisor: bool = typer.Option(False, "--supervisor")) -> None:
    """Create an operator (supervisors); the password is asked twice (or two lines from stdin)."""
    from d400tui.engine.operators import add_operator, require_supervisor

    _, db, actor = _signed_db()
    require_supervisor(actor)  # before the new password is asked for
    op = add_operator(db, actor, name, _password_twice(), supervisor)
    out.print(f"operator {op.name} created{' (supervisor)' if op.supervisor else ''}")


@operator_app.command("unlock")
def operator_unlock(name: str) -> None:
    """Unlock an account locked after repeated sign-on failures (supervisors)."""
    from d400tui.engine.operators import unlock_operator

    _, db, actor = _signed_db()
    unlock_operator(db, actor, name)
    out.print(f"operator {clean(name, 10).upper()} unlocked")


@operator_app.command("list")
def operator_list(as_json: bool = typer.Option(False, "--json")) -> None:
    """Operators, their rights, failure counts and locks (supervisors)."""
    from d400tui.engine.operators import list_operators

    _, db, actor = _signed_db()
    rows = list_operators(db, actor)
    if as_json:
        _json(rows)
        return
    table = Table("Opérateur", "Superviseur", "Échecs", "Verrouillé")
    for o in rows:
        table.add_row(o.name, "oui" if o.supervisor else "", str(o.failures), "oui" if o.locked else "")
    out.print(table)


# -- acquirers ----------------------------------------------------------------------------------
@acquirer_app.command("serve")
def acquirer_serve(
    protocol: str = typer.Option("http", "--protocol", help="http | iso8583"),
    host: str = typer.Option("127.0.0.1", "--host"),
    port: int | None = typer.Option(None, "--port", min=1, max=65535, help="Default 8410 (http) or 8583 (iso8583)."),
) -> None:
    """Serve the simulated issuer over HTTP (JSON API) or ISO 8583 over TCP."""
    from d400tui.simulator.serve import serve

    if protocol not in ("http", "iso8583"):
        raise CliError("protocol: http or iso8583")
    serve(_settings(), protocol, host, port or (8410 if protocol == "http" else 8583))


@acquirer_app.command("check")
def acquirer_check(as_json: bool = typer.Option(False, "--json")) -> None:
    """Which acquirer is configured, whether it answers, which brands it takes."""
    from d400tui.acquirers import check

    settings, db, _ = _signed_db()  # it calls the acquirer with the configured key
    db.dispose()
    info = aio.run(check(settings))
    if as_json:
        _json(info)
        return
    for k, v in info.items():
        out.print(f"{k}: {v}", markup=False)


def _fail(code: int, message: str) -> None:
    sys.stderr.write(f"d400: {clean(message)}\n")
    sys.stderr.flush()
    sys.exit(code)


def _click_errors() -> tuple[tuple[type[Exception], ...], ...]:
    """Click's usage errors, aborts and other exceptions: those of the click that typer vendors
    (typer ≥ 0.2x) and of the click package (older typer)."""
    usage: list[type[Exception]] = []
    other: list[type[Exception]] = []
    aborts: list[type[Exception]] = []
    for module in ("typer._click.exceptions", "click.exceptions"):
        try:
            mod = __import__(module, fromlist=["UsageError"])
        except ImportError:
            continue
        usage.append(mod.UsageError)
        other.append(mod.ClickException)
        if hasattr(mod, "Abort"):
            aborts.append(mod.Abort)
    return tuple(usage), tuple(other), tuple(aborts)


def main(argv: list[str] | None = None) -> None:
    """Runs one command; every failure is one line on stderr and a non-zero exit. Unexpected
    ones are logged (scrubbed, with the traceback) to the log file, not shown."""
    from sqlalchemy.exc import ArgumentError, OperationalError, SQLAlchemyError

    from d400tui.acquirers import AcquirerConfigError
    from d400tui.config import SettingsProblem
    from d400tui.engine import USER_ERRORS
    from d400tui.i18n import set_lang

    usage_errors, click_errors, aborts = _click_errors()
    where = "the log file"
    try:
        from d400tui.logs import configure

        settings = _settings()
        where = str(settings.log_file)
        set_lang(settings.lang)  # engine messages are French; errors and outcomes are printed in this language
        try:
            configure(settings.log_file, settings.log_level)
        except OSError:
            raise CliError(f"log file {settings.log_file}: cannot be written (D400_HOME)") from None
        code = app(args=argv, standalone_mode=False)
    except (CliError, SettingsProblem, *USER_ERRORS) as exc:
        _fail(2, tx(exc))
    except usage_errors as exc:  # bad option or value: click's sentence, cleaned, without the usage dump
        _fail(2, f"{exc.format_message()} (see --help)")  # type: ignore[attr-defined]
    except click_errors as exc:
        _fail(exc.exit_code or 2, exc.format_message())  # type: ignore[attr-defined]
    except (typer.Abort, *aborts, KeyboardInterrupt, EOFError):
        _fail(130, "interrupted")
    except AcquirerConfigError as exc:
        _fail(2, str(exc))
    except ArgumentError:
        _fail(2, "D400_DB_URL: not a database URL d400 knows (sqlite:///PATH or postgresql://USER:PW@HOST/DB)")
    except UnicodeError:
        _fail(2, "input is not valid text (UTF-8 expected)")
    except OperationalError as exc:
        _fail(2, f"database unreachable ({(str(exc.orig).splitlines() or ['no answer'])[0][:120]})")
    except SQLAlchemyError:
        log.exception("database error")
        _fail(2, f"database error, details in {where}")
    except Exception:  # the last line of defence: one line, no traceback, no card data
        log.exception("unexpected failure")
        _fail(1, f"internal error, details in {where}")
    sys.exit(code if isinstance(code, int) else 0)


from d400tui import cli_serve as _cli_serve  # noqa: E402,F401 - registers `d400 serve`
from d400tui import cli_stats as _cli_stats  # noqa: E402,F401 - registers `d400 stats`
