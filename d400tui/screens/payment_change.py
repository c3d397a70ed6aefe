"""CHGPAY — payment-method change: void what the old card holds, authorize the new card (or nothing
for cheque / transfer), show both, and the same decision panel on a refusal."""

from __future__ import annotations

from textual import events, on
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Input, Static

from d400tui.domain import model as m
from d400tui.domain.cards import CardData
from d400tui.engine import USER_ERRORS, ValidationResult
from d400tui.i18n import t
from d400tui.i18n.render import tx
from d400tui.widgets import EntryField

from .authorizing import AuthorizingMixin, summary
from .base import CardEntry, D400Screen
from .entry_codes import method_word, parse_method
from .fmt import amount
from .keys import keys
from .registry import decision_panel


class PaymentChangeScreen(AuthorizingMixin, CardEntry, D400Screen):
    SCREEN_ID = "CHGPAY"
    TITLE_KEY = "payment.title"
    LEGEND_KEY = "legend.payment"
    BINDINGS = keys("arrows", "prompt", "network", f10="validate")

    def __init__(self, order_id: int) -> None:
        super().__init__()
        self.order_id = order_id

    def action_prompt(self) -> None:
        """F4 on the payment method: the list of methods, in words."""
        from .prompt import prompt_codes

        focused = self.focused
        if focused is not None and focused.id == "method":
            prompt_codes(self, "method", self.query_one("#method", EntryField))
        else:
            self.message(t("payment.no_prompt"))
        self._card: CardData | None = None

    def compose(self) -> ComposeResult:
        yield from self.frame_top()
        with Vertical(classes="body"):
            yield Static("", id="current", markup=False)
            yield Static("", classes="gap")
            yield from self.compose_payment()
            yield Static("", classes="gap")
            yield Static("", id="result", markup=False)
            yield Static("", id="status", classes="strong", markup=False)
        yield from self.frame_bottom()

    def on_mount(self) -> None:
        self.show_current()
        self.query_one("#method", EntryField).focus()

    def show_current(self) -> None:
        try:
            o = self.engine.get_order(self.order_id)
        except USER_ERRORS as exc:
            self.message(tx(exc), error=True)
            return
        self.query_one("#current", Static).update(
            t(
                "payment.current",
                order=o.id,
                method=t(f"method.{o.payment_method.value}"),
                card=str(o.card or "-"),
                total=amount(o.total),
                status=t(f"status.{o.status.value}"),
                hold=t(f"hold.{o.hold.value}"),
            )
        )

    def fields(self) -> dict[str, EntryField]:
        q = self.query_one
        return {
            "method": q("#method", EntryField),
            "card": q("#card", EntryField),
            "expiry": q("#expiry", EntryField),
            "cvv": q("#cvv", EntryField),
        }

    @on(Input.Blurred, "#card")
    def _card_left(self) -> bool:
        err = self.leave_card_field()
        if err:
            self.message(err, error=True)
            return False
        return True

    @on(Input.Blurred, "#method")
    def _method_left(self) -> None:
        word = method_word(self.fields()["method"].text or "CARTE")
        self.query_one("#method-word", Static).update(" " + word)
        if not word:
            self.flag_error(self.fields()["method"], t("entry.method_invalid"))

    @on(Input.Changed, "#card")
    def _card_edited(self, event: Input.Changed) -> None:
        fld = self.fields()["card"]
        if fld.refuse_typing and event.value != getattr(self, "_wrong_value", None):
            fld.mark_error(False)
        self._wrong_value = event.value if fld.refuse_typing else None

    def on_descendant_focus(self, event: events.DescendantFocus) -> None:
        if getattr(event.widget, "id", None) == "card" and not self.busy:
            self.card_reentered()

    def _advance(self, field: EntryField) -> None:
        """Enter or a full field: method → card → expiry → CVV; then "F10 to validate"."""
        wid = field.id or ""
        if wid == "card" and not self._card_left():
            return
        card = method_word(self.fields()["method"].text or "CARTE") == t("method.CARD")
        nxt = {"method": "card" if card else None, "card": "expiry", "expiry": "cvv"}.get(wid)
        if nxt is None:
            self.message(t("entry.press_f10"))
            return
        self.fields()[nxt].focus()

    @on(EntryField.Full)
    def _full(self, event: EntryField.Full) -> None:
        event.stop()
        if not self.busy and event.field is self.focused and event.field.value.strip() != "*":
            self._advance(event.field)

    @on(Input.Submitted)
    def _enter(self, event: Input.Submitted) -> None:
        if isinstance(event.input, EntryField):
            self._advance(event.input)

    def action_validate(self) -> None:
        if self.busy:
            self.message(t("entry.authorizing"))
            return
        self.clear_errors()
        fields = self.fields()
        try:
            method = parse_method(fields["method"].text or "CARTE")
        except ValueError:
            self.field_error(fields["method"], t("entry.method_invalid"))
            return
        card = None
        if method is m.PaymentMethod.CARD:
            try:
                card = self.read_card(self.today())
            except USER_ERRORS as exc:
                self.show_error(exc, fields)
                return
        self._card = card
        self.run_auth(
            lambda: self.engine.change_payment_method(self.actor, self.order_id, method, card),
            self._answered,
            self._failed,
        )

    def _failed(self, exc: Exception) -> None:
        self.show_error(exc, self.fields())

    def _answered(self, res: ValidationResult) -> None:
        lines = [t("payment.void", message=tx(v.message), amount=amount(v.amount)) for v in res.voids]
        lines.append(summary(res))
        self.query_one("#result", Static).update("\n".join(lines))
        self.show_current()
        if res.needs_decision and res.failed is not None:
            target = self.engine.failover_target(res.failed)  # S: the secondary acquirer, if any
            self.app.push_screen(decision_panel(self.app, res.failed, self.order_id, failover=target), self._decided)
            return
        self._forget()
        self.message(summary(res))

    def _decided(self, kind: m.DecisionKind | None) -> None:
        if kind is None:
            self._forget()
            self.message(t("entry.undecided", order=self.order_id), error=True)
            return
        if kind is m.DecisionKind.CHANGE_METHOD:
            self._forget()
            self.run_auth(
                lambda: self.engine.decide(self.actor, self.order_id, kind),
                lambda res: self.message(t("payment.enter_new")),
                self._failed,
            )
            return
        card = self._card if kind in (m.DecisionKind.RETRY, m.DecisionKind.FAILOVER) else None

        def after(res: ValidationResult) -> None:
            if kind in (m.DecisionKind.RETRY, m.DecisionKind.FAILOVER):
                self._answered(res)
            else:
                self._forget()
                self.show_current()
                from .decision import decided_text

                self.message(decided_text(res, self.order_id, kind))  # advice: L on a stolen card is a request

        self.run_auth(lambda: self.engine.decide(self.actor, self.order_id, kind, card=card), after, self._failed)

    def _forget(self) -> None:
        self._card = None
        self.forget_card()

    def action_back(self) -> None:
        self._card = None
        self._pan = None
        super().action_back()
