"""DSPORD — display one order: header, lines, instalments, authorization history (masked card only),
decisions (who, when, what was shown)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.widgets import Static

from d400tui.domain import model as m
from d400tui.engine import USER_ERRORS
from d400tui.i18n import t
from d400tui.i18n.engine_text import tx

from .base import D400Screen
from .fmt import amount, day, stamp


def void_part(a: m.Authorization) -> str:
    return f"  {t('display.void')} {a.void_state.value}" if a.void_state is not m.VoidState.NONE else ""


def order_text(o: m.Order, customer: str) -> str:
    out = [
        t("display.header", order=o.id, date=day(o.order_date), channel=o.channel.value,
          status=t(f"status.{o.status.value}"), hold=t(f"hold.{o.hold.value}")),
        t("display.customer", id=o.customer_id, name=customer),
        t("display.payment", method=t(f"method.{o.payment_method.value}"),
          card=f"{o.card} {o.card.brand.value} {o.card.expiry}" if o.card else "-", plan=o.plan,
          total=amount(o.total)),
    ]
    if o.awaiting_decision:
        out.append(t("display.awaiting"))
    if o.cancel_reason:
        out.append(t("display.reason", reason=tx(o.cancel_reason)))
    out.append(t("display.lines"))
    for i, ln in enumerate(o.lines, 1):
        out.append(f" {i:>2} {ln.article_code:<12} {ln.label[:24]:<24} {ln.quantity:>4} "
                   f"{amount(ln.unit_price):>9} {amount(ln.vat_rate):>6} {amount(ln.gross):>10}")
    out.append(t("display.instalments"))
    for inst in sorted(o.instalments, key=lambda i: i.seq):
        until = t("display.until", date=day(inst.authorized_until)) if inst.authorized_until else ""
        out.append(f" {inst.seq:>2} {day(inst.due_date)} {amount(inst.amount):>10} "
                   f"{t(f'inst.{inst.state.value}'):<10} {until}")
    out.append(t("display.auths"))
    if not o.authorizations:
        out.append(t("display.none"))
    for a in o.authorizations:
        seq = next((i.seq for i in o.instalments if i.id == a.instalment_id), "-")
        out.append(f" {a.id or 0:>4} {a.kind.value[:4]} {t('display.seq')} {seq} {a.card} {amount(a.amount):>10} "
                   f"{a.state.value:<9} {a.response_code or '':>3} {tx(a.label or '')[:20]}")
        out.append(f"      {t('display.auth_code')} {a.auth_code or '-'}  "
                   f"{t('display.asked')} {stamp(a.requested_at)}"
                   f"  {t('display.answered')} {stamp(a.answered_at)}"
                   f"  {t('display.ref')} {(a.acquirer_ref or '-')[:24]}"
                   + void_part(a))
    out.append(t("display.decisions"))
    if not o.decisions:
        out.append(t("display.none"))
    for d in o.decisions:
        out.append(f" {stamp(d.at)} {d.operator:<10} {t(f'decision.kind_{d.kind.value}'):<22} "
                   f"{t('display.shown')} {d.shown_category} {d.shown_code} {tx(d.shown_label)[:20]}")
    return "\n".join(out)


class DisplayOrderScreen(D400Screen):
    SCREEN_ID = "DSPORD"
    TITLE_KEY = "display.title"
    LEGEND_KEY = "legend.display"
    BINDINGS = [*D400Screen.BINDINGS,
                Binding("f5", "refresh", t("key.f5"), show=False, id="d400.refresh", tooltip=t("key.f5")),
                Binding("ctrl+r", "refresh", t("key.f5"), show=False, id="d400.refresh.ctrl", tooltip=t("key.f5")),
                Binding("pagedown", "page_down", show=False, id="d400.page_down"),
                Binding("pageup", "page_up", show=False, id="d400.page_up")]
    DEFAULT_CSS = "DisplayOrderScreen #detail { height: 1fr; padding: 0 1; }"

    def __init__(self, order_id: int) -> None:
        super().__init__()
        self.order_id = order_id

    def compose(self) -> ComposeResult:
        yield from self.frame_top()
        with VerticalScroll(id="detail"):
            yield Static("", id="text", markup=False)
        yield from self.frame_bottom()

    def on_mount(self) -> None:
        self.action_refresh()
        self.query_one("#detail").focus()

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
