"""`d400 order …`: entry, listing, decisions, cancellation and payment changes. The card number
is read from standard input only; `order new` exits 3 when an operator decision is needed."""

from __future__ import annotations

from datetime import date

import typer
from rich.table import Table

from d400tui.cli.app import AsJson, Limit, order_app
from d400tui.cli.inputs import MAX_NUMBER, order_number, read_card
from d400tui.cli.output import CliError, out, print_json, print_rows, quote
from d400tui.cli.session import call, run, signed_engine
from d400tui.domain import model as m
from d400tui.domain.cards import Brand
from d400tui.i18n import t
from d400tui.i18n.render import code_advice, expiry_words, tx


def _lines(values: list[str]) -> list[tuple[str, int]]:
    lines = []
    for v in values:
        code, sep, qty = v.partition(":")
        if not sep or not code.strip():
            raise CliError(f"--line ARTICLE:QTY expected, got {quote(v)}")
        if not qty.strip().isascii() or not qty.strip().isdigit() or not 1 <= int(qty) <= 9999:
            raise CliError(f"quantity of {quote(code[:12])}: a whole number from 1 to 9999")
        lines.append((code.strip().upper(), int(qty)))
    return lines


def _answer_line(result) -> str:  # type: ignore[no-untyped-def]
    lines = [f"order {result.order.id} {result.order.status.value} hold={result.order.hold.value}"]
    if result.note:
        lines.append(tx(result.note))
    for v in result.voids:
        lines.append(f"void: {tx(v.message)}")
    for a in result.answers:
        what = "verify" if a.kind is m.AuthKind.VERIFY else f"instalment {a.instalment_seq} {a.amount} EUR"
        if a.approved:
            lines.append(f"{what}: APPROVED authorization {a.auth_code} (code {a.code})" + _checks(a))
        else:
            lines.append(
                f"{what}: {a.state.value} {a.category.value} — {t(f'category.{a.category.value}')} — "
                f"code {a.code} {tx(a.label)}"
            )
            lines.append(f"  » {code_advice(a.code)}")  # what to do, from data/response_codes.csv
    if result.needs_decision:
        lines.append(f"operator decision needed: d400 order decide {result.order.id} block|release|retry")
    return "\n".join(lines)


def _checks(a) -> str:  # type: ignore[no-untyped-def]
    """network branch: the network it went on and the CVV check; a CVV mismatch said plainly."""
    out = f" network {a.network}" if a.network else ""
    out += f" cvv {a.security_check}" if a.security_check else ""
    return out + (" — WARNING: CVV does not match, check before shipping" if a.cvv_mismatch else "")


Network = typer.Option(
    None,
    "--network",
    case_sensitive=False,
    help="Network of a co-badged card: CB (the default) or VISA/MASTERCARD on the customer's request.",
)


def _card(method: m.PaymentMethod, expiry: str, network: Brand | None):  # type: ignore[no-untyped-def]
    if method is not m.PaymentMethod.CARD:
        if network is not None:
            raise CliError("--network goes with a card (--method CARD)")
        return None
    if network is not None and network not in (Brand.CB, Brand.VISA, Brand.MASTERCARD):
        raise CliError("--network: CB, VISA or MASTERCARD")
    return read_card(expiry).on(network)


def _print_result(result, as_json: bool) -> None:  # type: ignore[no-untyped-def]
    if as_json:
        print_json(
            {
                "order": result.order.id,
                "status": result.order.status,
                "hold": result.order.hold,
                "note": result.note,
                "answers": result.answers,
                "voids": result.voids,
                "needs_decision": result.needs_decision,
            }
        )
    else:
        out.print(_answer_line(result), markup=False, highlight=False)


@order_app.command("new")
def order_new(
    customer: int = typer.Option(..., "--customer", min=1, max=MAX_NUMBER, help="Customer number."),
    line: list[str] = typer.Option(..., "--line", help="ARTICLE:QTY, repeatable."),
    expiry: str = typer.Option("", "--expiry", help="Card expiry MM/YY (card read from stdin)."),
    plan: str = typer.Option("immediate", "--plan", help="immediate | deferred:YYYY-MM-DD | instalments:N"),
    channel: m.Channel = typer.Option(m.Channel.PHONE, "--channel", case_sensitive=False),
    method: m.PaymentMethod = typer.Option(m.PaymentMethod.CARD, "--method", case_sensitive=False),
    network: Brand | None = Network,
    as_json: AsJson = False,
) -> None:
    """Take an order and validate it: prints the order number and the authorization answer."""
    lines = _lines(line)
    the_plan = m.Plan.parse(plan, date.today())
    card = _card(method, expiry, network)
    result = call(lambda engine, actor: engine.place_order(actor, customer, lines, card, channel, method, the_plan))
    _print_result(result, as_json)
    if result.needs_decision:
        raise typer.Exit(3)


@order_app.command("list")
def order_list(
    status: m.OrderStatus | None = typer.Option(None, "--status", case_sensitive=False),
    hold: m.PaymentHold | None = typer.Option(None, "--hold", case_sensitive=False),
    customer: int | None = typer.Option(None, "--customer", min=1, max=MAX_NUMBER),
    channel: m.Channel | None = typer.Option(None, "--channel", case_sensitive=False),
    limit: Limit = 20,
    after: int | None = typer.Option(
        None, "--after", min=1, max=MAX_NUMBER, help="Page: orders older than this number."
    ),
    expiring: bool = typer.Option(
        False, "--expiring", help="Only orders whose authorization lapses within 48 h (not yet lapsed)."
    ),
    as_json: AsJson = False,
) -> None:
    """Orders, newest first, paged from the database; "Expire" says how long each live authorization holds."""
    from d400tui.engine.views import OrderFilter

    engine, _ = signed_engine()
    within = 48 if expiring else None
    rows = engine.list_orders(
        OrderFilter(status=status, hold=hold, customer_id=customer, channel=channel, expiring_within_h=within),
        after_id=after,
        limit=limit,
    )
    now = engine.clock()
    table = Table(
        box=None,
        pad_edge=False,
        padding=(0, 1, 0, 0),
        header_style="bold underline",
        caption="* = en attente de décision opératrice",
        caption_justify="left",
    )
    for name, justify in (
        ("N°", "right"),
        ("Date", "left"),
        ("Client", "left"),
        ("Canal", "left"),
        ("Statut", "left"),
        ("Blocage", "left"),
        ("Paie.", "left"),
        ("Total", "right"),
        ("Carte", "left"),
        ("Expire", "left"),
    ):
        table.add_column(name, justify=justify, no_wrap=True)  # type: ignore[arg-type]
    print_rows(
        rows,
        as_json,
        table,
        lambda r: (
            f"{r.id}{'*' if r.awaiting_decision else ''}",
            f"{r.order_date:%d/%m/%y}",
            r.customer_name[:16],
            r.channel,
            r.status[:9],
            r.hold,
            r.payment_method[:5],
            f"{r.total}",
            f"…{r.card[-4:]}" if r.card else "",
            expiry_words(r.authorized_until, now, wide=False),
        ),
    )


@order_app.command("show")
def order_show(number: int = order_number(), as_json: AsJson = False) -> None:
    """One order: lines, instalments, authorization history, decisions."""
    engine, _ = signed_engine()
    o = engine.get_order(number)
    if as_json:
        print_json(o)
        return
    out.print(
        f"Commande {o.id}  client {o.customer_id}  {o.channel.value}  {o.status.value}  "
        f"blocage {o.hold.value}  {o.payment_method.value} {o.card or ''}  total {o.total} EUR",
        markup=False,
    )
    for ln in o.lines:
        out.print(
            f"  {ln.article_code:<8} {ln.label[:40]:<40} {ln.quantity:>4} × {ln.unit_price} TVA {ln.vat_rate}%",
            markup=False,
        )
    for i in o.instalments:
        out.print(f"  échéance {i.seq} {i.due_date} {i.amount} EUR {i.state.value}", markup=False)
    for a in o.authorizations:
        out.print(
            f"  autorisation {a.id} {a.kind.value} {a.card} {a.amount} {a.state.value} code {a.response_code} "
            f"{tx(a.label or '')} n°{a.auth_code or '-'} réf {a.acquirer_ref or '-'} {a.requested_at:%Y-%m-%d %H:%M}"
            f"{' annulation en attente' if a.void_state is m.VoidState.PENDING else ''}",
            markup=False,
        )
    shipping = engine.shipping_view(number)
    for sh in shipping.shipments:
        what = " ".join(f"{ln.article_code}:{ln.quantity}" for ln in sh.lines) or "-"
        last = " (dernière)" if sh.final else ""
        out.print(
            f"  expédition {sh.id} {sh.shipped_at:%Y-%m-%d %H:%M} {what} {sh.amount} EUR par {sh.operator}{last}",
            markup=False,
        )
    for c in shipping.captures:
        released = f", reste libéré {c.release} EUR" if c.release else ""
        out.print(
            f"  capture {c.id} échéance {c.instalment_seq} {c.amount} EUR {c.state.value} ({c.operation}{released})",
            markup=False,
        )
    for d in o.decisions:
        out.print(
            f"  décision {d.kind.value} par {d.operator} le {d.at:%Y-%m-%d %H:%M} "
            f"(affiché : {d.shown_category} {d.shown_code} {d.shown_label})",
            markup=False,
        )


@order_app.command("ship")
def order_ship(
    number: int = order_number(),
    line: list[str] = typer.Option([], "--line", help="ARTICLE:QTY shipped, repeatable."),
    final: bool = typer.Option(False, "--final", help="The last parcel: the rest of the authorization is released."),
    as_json: AsJson = False,
) -> None:
    """Record a parcel of the order's lines; the capture run takes what it shipped."""
    lines = _lines(line)
    if not lines and not final:
        raise CliError("say what ships: --line ARTICLE:QTY (repeatable), or --final alone to close the shipping")
    engine, who = signed_engine()
    try:
        result = engine.ship(who, number, lines, final)
    finally:
        run(engine.acquirer.close())
    if as_json:
        print_json(
            {
                "order": number,
                "shipment": result.shipment.id,
                "amount": result.shipment.amount,
                "final": result.shipment.final,
                "lines": [
                    {"article": ln.article_code, "quantity": ln.quantity, "amount": ln.amount}
                    for ln in result.shipment.lines
                ],
                "shipped": result.state.shipped,
                "to_capture": {str(seq): amount for seq, amount in result.due.items()},
            }
        )
        return
    out.print(tx(result.message), markup=False, highlight=False)
    for ln in result.shipment.lines:
        out.print(f"  {ln.article_code:<12} {ln.quantity:>4}  {ln.amount} EUR", markup=False, highlight=False)
    for seq, amount in sorted(result.due.items()):
        if amount > 0:
            out.print(f"  échéance {seq} : {amount} EUR à capturer", markup=False, highlight=False)


@order_app.command("decide")
def order_decide(
    number: int = order_number(),
    decision: str = typer.Argument(..., help="block | release | retry | failover"),
    expiry: str = typer.Option("", "--expiry", help="failover: the card's expiry MM/YY (card read from stdin)."),
    network: Brand | None = Network,
    as_json: AsJson = False,
) -> None:
    """Record the operator's decision on a refused or unanswered authorization. `failover` sends it
    to the secondary acquirer (the first definitely unavailable): the card is read again from stdin."""
    kinds = {"block": m.DecisionKind.BLOCK, "release": m.DecisionKind.RELEASE, "retry": m.DecisionKind.RETRY}
    kinds["failover"] = m.DecisionKind.FAILOVER  # network branch (issue 13.5)
    kind = kinds.get(decision.lower())
    if kind is None:
        raise CliError("decision: block, release, retry or failover")
    card = _card(m.PaymentMethod.CARD, expiry, network) if kind is m.DecisionKind.FAILOVER else None
    _print_result(call(lambda engine, actor: engine.decide(actor, number, kind, card=card)), as_json)


@order_app.command("approve-release")
def order_approve_release(number: int = order_number(), as_json: AsJson = False) -> None:
    """Supervisors: approve the release of a blocked order (four eyes: not one you asked for)."""
    _print_result(call(lambda engine, actor: engine.approve_release(actor, number)), as_json)


@order_app.command("refuse-release")
def order_refuse_release(number: int = order_number(), as_json: AsJson = False) -> None:
    """Supervisors: refuse an operator's release request; the order stays blocked."""
    _print_result(call(lambda engine, actor: engine.refuse_release(actor, number)), as_json)


@order_app.command("cancel")
def order_cancel(
    number: int = order_number(),
    reason: str = typer.Option(..., "--reason", help="Why (required)."),
    as_json: AsJson = False,
) -> None:
    """Cancel an order: its live authorizations are voided in real time."""
    _print_result(call(lambda engine, actor: engine.cancel_order(actor, number, reason)), as_json)


@order_app.command("delete")
def order_delete(number: int = order_number(), as_json: AsJson = False) -> None:
    """Delete a non-invoiced order (kept in the audit trail); authorizations voided in real time."""
    _print_result(call(lambda engine, actor: engine.delete_order(actor, number)), as_json)


@order_app.command("cancel-deferred")
def order_cancel_deferred(
    number: int = order_number(),
    instalment: int = typer.Option(..., "--instalment", min=1, max=99, help="Instalment number."),
    drop: bool = typer.Option(False, "--drop", help="The deferred goods or service are cancelled."),
    pay_now: bool = typer.Option(False, "--pay-now", help="The amount becomes due now and is authorized."),
    as_json: AsJson = False,
) -> None:
    """Cancel a deferred payment: void its authorization, then drop it or make it due now."""
    if drop == pay_now:
        raise CliError("say what becomes of the amount: --drop or --pay-now")
    _print_result(call(lambda engine, actor: engine.cancel_deferred(actor, number, instalment, pay_now)), as_json)


@order_app.command("change-payment")
def order_change_payment(
    number: int = order_number(),
    method: m.PaymentMethod = typer.Option(..., "--method", case_sensitive=False),
    expiry: str = typer.Option("", "--expiry", help="New card expiry MM/YY (card read from stdin)."),
    network: Brand | None = Network,
    as_json: AsJson = False,
) -> None:
    """Change the payment method: void the old card's authorizations, authorize the new card."""
    card = _card(method, expiry, network)
    _print_result(call(lambda engine, actor: engine.change_payment_method(actor, number, method, card)), as_json)
