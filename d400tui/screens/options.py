"""Option codes typed in front of order rows (WRKORD, PRECHK), as one table of code → handler,
processed top to bottom after a single Enter. An option that does not apply to the order (cancel
an order already cancelled, block one already blocked…) is refused with a plain sentence before
any confirmation, never reported as done; the engine refuses it anyway."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from d400tui.domain import model as m
from d400tui.engine import USER_ERRORS, ValidationResult
from d400tui.i18n import t
from d400tui.i18n.render import tx

from .authorizing import AuthorizingMixin
from .results import show_results
from .words import status as status_word


def not_applicable(order: m.Order, code: str) -> str | None:
    """Why option `code` does not apply to `order`, in words; None when it does."""
    option = OPTIONS[code]
    closed = order.status in (m.OrderStatus.CANCELLED, m.OrderStatus.DELETED, m.OrderStatus.INVOICED)
    if (option.open_only and closed) or option.refused(order):
        return t(
            "lists.not_applicable",
            order=order.id,
            status=status_word(order.status.value).lower(),
            action=t(option.action),
        )
    return option.why_not(order)


def void_note(res: ValidationResult) -> str:
    if not res.voids:
        return ""
    return " — " + "; ".join(tx(v.message) for v in res.voids)


def deferred_note(res: ValidationResult, oid: int, seq: int, pay_now: bool) -> str:
    text = t("work.deferred_paid" if pay_now else "work.deferred_dropped", order=oid, seq=seq) + void_note(res)
    return text + awaiting_note(res, oid)


def awaiting_note(res: ValidationResult, oid: int) -> str:
    f = res.failed
    if f is None:
        return ""
    return " — " + t("entry.awaiting", order=oid, headline=t(f"category.{f.category.value}"), code=f.code)


class OrderOptions(AuthorizingMixin):
    """The option queue of a list of orders. The screen defines ALLOWED, `clear_option(i)` and
    `after_options()` (reload the page, keep what is still typed)."""

    ALLOWED: tuple[str, ...] = ()  # the codes of OPTIONS this list takes
    queue: list[tuple[int, int, str]]
    notes: list[str]

    def start_options(self, opts: list[tuple[int, int, str]]) -> None:
        self.queue = list(opts)
        self.notes = []
        self.next_option()

    def next_option(self) -> None:
        if not self.queue:
            self.after_options()
            show_results(self, self.notes)
            return
        i, oid, code = self.queue.pop(0)
        self.clear_option(i)
        try:
            order = self.engine.get_order(oid)  # type: ignore[attr-defined]
            why = not_applicable(order, code)
            if why:
                self.done(why)
                return
            OPTIONS[code].run(self, order, code)
        except USER_ERRORS as exc:
            self.done(tx(exc))

    def done(self, note: object = None) -> None:
        if isinstance(note, str) and note:
            self.notes.append(note)
        self.next_option()

    def engine_call(self, call: Callable[[], Any], ok: Callable[[ValidationResult], str]) -> None:
        self.run_auth(call, lambda res: self.done(ok(res)), lambda exc: self.done(tx(exc)))

    def clear_option(self, i: int) -> None:
        raise NotImplementedError

    def after_options(self) -> None:
        raise NotImplementedError

    # -- handlers ----------------------------------------------------------------------------------
    def opt_display(self, order: m.Order, code: str) -> None:
        from .display_order import DisplayOrderScreen

        self.app.push_screen(DisplayOrderScreen(order.id or 0), self.done)  # type: ignore[attr-defined]

    def opt_payment(self, order: m.Order, code: str) -> None:
        from .payment_change import PaymentChangeScreen

        self.app.push_screen(PaymentChangeScreen(order.id or 0), lambda _: self.done())  # type: ignore[attr-defined]

    def opt_modify(self, order: m.Order, code: str) -> None:
        from .order_entry import OrderEntryScreen

        oid = order.id
        self.app.push_screen(
            OrderEntryScreen(modify=order),
            lambda note: self.done(  # type: ignore[attr-defined]
                note if isinstance(note, str) else t("work.not_done", order=oid)
            ),
        )

    def opt_decide(self, order: m.Order, code: str) -> None:
        kind, oid = OPTIONS[code].decision, order.id or 0
        assert kind is not None
        word = t(f"decision.kind_{kind.value}")
        if kind is m.DecisionKind.CHANGE_METHOD:

            def then_change(res: ValidationResult) -> str:
                self.queue.insert(0, (-1, oid, "8"))  # the payment panel next, before the following row
                return t("decision.recorded", order=oid, decision=word)

            self.engine_call(lambda: self.engine.decide(self.actor, oid, kind), then_change)  # type: ignore[attr-defined]
            return
        from .decision import decided_text

        self.engine_call(
            lambda: self.engine.decide(self.actor, oid, kind),  # type: ignore[attr-defined]
            lambda res: decided_text(res, oid, kind) + awaiting_note(res, oid),  # advice: L may be a request
        )

    def confirm_then(
        self, kind: str, order: m.Order, call: Callable[[Any], Any], ok: Callable[[Any, ValidationResult], str]
    ) -> None:
        """The confirmation panel of `kind`; what it answers goes to the engine `call`, F12 does nothing."""
        from .confirm import ConfirmScreen

        oid = order.id or 0

        def confirmed(answer: object) -> None:
            if not answer:
                self.done(t("work.not_done", order=oid))
                return
            self.engine_call(lambda: call(answer), lambda res: ok(answer, res))

        self.app.push_screen(ConfirmScreen(kind, order), confirmed)  # type: ignore[attr-defined]

    def opt_delete(self, order: m.Order, code: str) -> None:
        oid = order.id or 0
        self.confirm_then(
            "delete",
            order,
            lambda _: self.engine.delete_order(self.actor, oid),  # type: ignore[attr-defined]
            lambda _, res: t("work.deleted", order=oid) + void_note(res),
        )

    def opt_cancel(self, order: m.Order, code: str) -> None:
        oid = order.id or 0
        self.confirm_then(
            "cancel",
            order,
            lambda reason: self.engine.cancel_order(self.actor, oid, str(reason)),  # type: ignore[attr-defined]
            lambda _, res: t("work.cancelled", order=oid) + void_note(res),
        )

    def opt_ship(self, order: m.Order, code: str) -> None:
        """E: the "Expédier" panel; what it answers is recorded as a parcel (no acquirer call)."""
        from .shipment import ShipmentScreen

        oid = order.id or 0
        view = self.engine.shipping_view(oid)  # type: ignore[attr-defined]

        def shipped(answer: object) -> None:
            if not isinstance(answer, tuple):
                self.done(t("work.not_done", order=oid))
                return
            lines, final = answer
            try:
                res = self.engine.ship(self.actor, oid, lines, final)  # type: ignore[attr-defined]
            except USER_ERRORS as exc:
                self.done(tx(exc))
                return
            self.done(tx(res.message))

        self.app.push_screen(ShipmentScreen(order, view), shipped)  # type: ignore[attr-defined]

    def opt_deferred(self, order: m.Order, code: str) -> None:
        oid = order.id or 0
        self.confirm_then(
            "deferred",
            order,
            lambda ch: self.engine.cancel_deferred(self.actor, oid, ch[0], ch[1]),  # type: ignore[attr-defined]
            lambda ch, res: deferred_note(res, oid, ch[0], ch[1]),
        )


def _never(order: m.Order) -> bool:
    return False


def _nothing(order: m.Order) -> str | None:
    return None


@dataclass(frozen=True)
class Option:
    """One option code: its handler, and when it does not apply. `open_only`: refused on a cancelled,
    deleted or invoiced order; `refused`: another state that forbids it (both said with `action`,
    the words of what it does); `why_not`: a sentence of its own (already blocked, nothing deferred)."""

    run: Callable[[OrderOptions, m.Order, str], None]
    action: str = ""
    open_only: bool = True
    refused: Callable[[m.Order], bool] = _never
    why_not: Callable[[m.Order], str | None] = _nothing
    decision: m.DecisionKind | None = None


def _not_deletable(order: m.Order) -> bool:
    """Deleting: refused once invoiced, deleted, or once an instalment is captured."""
    return order.status in (m.OrderStatus.INVOICED, m.OrderStatus.DELETED) or any(
        i.state is m.InstalmentState.CAPTURED for i in order.instalments
    )


def _not_shippable(order: m.Order) -> bool:
    """Shipping: only a validated order (not a draft, nor one closed)."""
    return order.status is not m.OrderStatus.VALIDATED


def _already_blocked(order: m.Order) -> str | None:
    return t("lists.already_blocked", order=order.id) if order.hold is m.PaymentHold.BLOCKED else None


def _already_released(order: m.Order) -> str | None:
    return t("lists.already_released", order=order.id) if order.hold is m.PaymentHold.RELEASED else None


def _nothing_deferred(order: m.Order) -> str | None:
    if any(i.is_deferred(order.order_date) for i in order.pending_instalments()):
        return None
    return t("work.no_deferred", order=order.id)


OPTIONS: dict[str, Option] = {
    "2": Option(OrderOptions.opt_modify, "lists.act_modify"),
    "4": Option(OrderOptions.opt_delete, "lists.act_delete", open_only=False, refused=_not_deletable),
    "5": Option(OrderOptions.opt_display, open_only=False),
    "7": Option(OrderOptions.opt_cancel, "lists.act_cancel"),
    "8": Option(OrderOptions.opt_payment, "lists.act_payment"),
    "9": Option(OrderOptions.opt_deferred, "lists.act_deferred", why_not=_nothing_deferred),
    "E": Option(OrderOptions.opt_ship, "lists.act_ship", refused=_not_shippable),
    "B": Option(OrderOptions.opt_decide, "lists.act_decide", why_not=_already_blocked, decision=m.DecisionKind.BLOCK),
    "L": Option(
        OrderOptions.opt_decide, "lists.act_decide", why_not=_already_released, decision=m.DecisionKind.RELEASE
    ),
    "M": Option(OrderOptions.opt_decide, "lists.act_payment", decision=m.DecisionKind.CHANGE_METHOD),
    "R": Option(OrderOptions.opt_decide, "lists.act_decide", decision=m.DecisionKind.RETRY),
}
