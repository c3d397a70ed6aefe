"""DSPORD — display one order: header, lines, instalments, authorization history (masked card only),
decisions (who, when, what was shown), all in words; B/L/M/R decide on it from here."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Input, Static

from d400tui.domain import model as m
from d400tui.engine import USER_ERRORS
from d400tui.i18n import t
from d400tui.i18n.render import tx
from d400tui.widgets import EntryField

from . import words
from .base import D400Screen
from .checks import check_words
from .fmt import amount, day, stamp
from .keys import keys
from .options import OrderOptions
from .results import ResultsMixin


def void_part(a: m.Authorization) -> str:
    if a.void_state is m.VoidState.NONE:
        return ""
    return f"  {t('display.void')} {t(f'lists.void_{a.void_state.value}')}"


def shown_words(category: str, code: str, label: str) -> str:
    head = t(f"category.{category}") if category else ""
    return " ".join(p for p in (head, code, tx(label)[:20]) if p)


def order_text(o: m.Order, customer: str) -> str:
    out = [
        t(
            "display.header",
            order=o.id,
            date=day(o.order_date),
            channel=words.channel(o.channel.value),
            status=t(f"status.{o.status.value}"),
            hold=t(f"hold.{o.hold.value}"),
        ),
        t("display.customer", id=o.customer_id, name=customer[:30], total=amount(o.total)),
        t(
            "display.payment",
            method=t(f"method.{o.payment_method.value}"),
            card=f"{o.card} {o.card.brand.value} {o.card.expiry}{network_of(o)}" if o.card else "",
            plan=words.plan(o.plan),
        ),
    ]
    if o.awaiting_decision:
        out.append(t("display.awaiting"))
    if o.cancel_reason:
        out.append(t("display.reason", reason=tx(o.cancel_reason)))
    out.append(t("display.lines"))
    for i, ln in enumerate(o.lines, 1):
        out.append(
            f" {i:>2} {ln.article_code:<12} {ln.label[:24]:<24} {ln.quantity:>4} "
            f"{amount(ln.unit_price):>9} {amount(ln.vat_rate):>6} {amount(ln.gross):>10}"
        )
    out.append(t("display.instalments"))
    for inst in sorted(o.instalments, key=lambda i: i.seq):
        until = t("display.until", date=day(inst.authorized_until)) if inst.authorized_until else ""
        out.append(
            f" {inst.seq:>2} {day(inst.due_date)} {amount(inst.amount):>10} {t(f'inst.{inst.state.value}'):<10} {until}"
        )
    out.append(t("display.auths"))
    if not o.authorizations:
        out.append(t("display.none"))
    for a in o.authorizations:
        seq = next((i.seq for i in o.instalments if i.id == a.instalment_id), "-")
        out.append(
            f" {a.id or 0:>4} {words.auth_kind(a.kind.value)[:6]:<6} {t('display.seq')} {seq} {a.card} "
            f"{amount(a.amount):>10} {words.auth_state(a.state.value)[:10]:<10} {a.response_code or '':>3} "
            f"{tx(a.label or '')[:20]}"
        )
        out.append(
            f"      {t('display.auth_code')} {a.auth_code or '-'}  "
            f"{t('display.asked')} {stamp(a.requested_at)}"
            f"  {t('display.answered')} {stamp(a.answered_at)}"
            f"  {t('display.ref')} {(a.acquirer_ref or '-')[:24]}" + void_part(a)
        )
        out.extend(network_lines(a))
    out.append(t("display.decisions"))
    if not o.decisions:
        out.append(t("display.none"))
    for d in o.decisions:
        out.append(
            f" {stamp(d.at)} {d.operator:<10} {t(f'decision.kind_{d.kind.value}'):<22} "
            f"{t('display.shown')} {shown_words(d.shown_category, d.shown_code, d.shown_label)}"
        )
    return "\n".join(out)


def network_of(o: m.Order) -> str:
    """network branch: the network chosen for the order's card, after the card."""
    return " " + t("network.on", network=t(f"network.{o.card_network}")) if o.card_network else ""


def network_lines(a: m.Authorization) -> list[str]:
    """network branch: the network the call went on, the CVV check and the acquirer; a CVV that
    does not match on an approved authorization is said on a line of its own."""
    lines = ["    " + check_words(a) + "  " + t("network.acquirer", acquirer=a.acquirer)]
    if a.cvv_mismatch:
        lines.append("      " + t("network.cvv_flag"))
    return lines


class DisplayOrderScreen(ResultsMixin, OrderOptions, D400Screen):
    SCREEN_ID = "DSPORD"
    TITLE_KEY = "display.title"
    LEGEND_KEY = "legend.display"
    BINDINGS = keys("refresh", "pages", "prompt", pages_first=False)
    ALLOWED = ("B", "L", "M", "R")

    def __init__(self, order_id: int) -> None:
        super().__init__()
        self.order_id = order_id
        self.queue: list[tuple[int, int, str]] = []
        self.notes: list[str] = []
        self.outcome: str | None = None  # what was decided here, for the list it was opened from

    def compose(self) -> ComposeResult:
        yield from self.frame_top()
        with VerticalScroll(id="detail"):
            yield Static("", id="text", markup=False)
        with Horizontal(classes="row", id="decide-row"):
            yield Static(t("lists.decide"), classes="lbl", markup=False)
            yield EntryField(width=1, upper=True, id="decide")
            yield Static(t("lists.decide_hint"), classes="hint", markup=False)
        yield from self.frame_bottom()

    def on_mount(self) -> None:
        self.action_refresh()
        self.query_one("#decide", EntryField).focus()

    def action_back(self) -> None:
        self.dismiss(self.outcome)

    def action_prompt(self) -> None:
        from .prompt import prompt_codes

        prompt_codes(self, "decision", self.query_one("#decide", EntryField))

    @on(Input.Submitted, "#decide")
    def process(self) -> None:
        if self.busy or self.queue:
            return
        self.clear_errors()
        f = self.query_one("#decide", EntryField)
        if not f.text:
            return
        if f.text not in self.ALLOWED:
            self.field_error(f, t("decision.bad_choice", code=f.text[:1]))
            return
        code, f.value = f.text, ""
        self.start_options([(-1, self.order_id, code)])

    def clear_option(self, i: int) -> None:
        return None

    def after_options(self) -> None:
        self.action_refresh()
        if self.notes:
            self.outcome = " | ".join(self.notes)

    def action_refresh(self) -> None:
        try:
            o = self.engine.get_order(self.order_id)
            name = self.engine.get_customer(o.customer_id).name
        except USER_ERRORS as exc:
            self.message(tx(exc), error=True)
            return
        self.query_one("#text", Static).update(order_text(o, name))

    def action_page_down(self) -> None:
        self.query_one("#detail", VerticalScroll).scroll_page_down()

    def action_page_up(self) -> None:
        self.query_one("#detail", VerticalScroll).scroll_page_up()
