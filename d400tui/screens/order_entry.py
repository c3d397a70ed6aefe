"""ORDENT — phone order entry: customer, lines, payment method, card, plan; F10 authorizes in a worker
and shows the answer inline (the decision panel on a refusal or an unavailable service).

What is typed is saved as the operator's draft each time a field is left (never the card number,
expiry or CVV), so a dropped terminal finds it again at the next sign-on; the draft is discarded
once the order exists or the operator leaves the panel with F3/F12.

ORDMOD is the same panel in "modify" mode (option 2 of work with orders): the lines of an existing
order, F10 = engine.modify_lines, which voids and re-authorizes a validated card order."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.css.query import NoMatches
from textual.widgets import Input, Static

from d400tui.domain import model as m
from d400tui.domain.cards import CardData
from d400tui.engine import USER_ERRORS, ValidationResult
from d400tui.i18n import t
from d400tui.i18n.engine_text import tx
from d400tui.widgets import EntryField

from .base import CardEntry, D400Screen
from .fmt import amount

LINES = 6
METHODS = {"CARD": m.PaymentMethod.CARD, "CARTE": m.PaymentMethod.CARD, "CB": m.PaymentMethod.CARD,
           "CHEQUE": m.PaymentMethod.CHEQUE, "CHQ": m.PaymentMethod.CHEQUE,
           "TRANSFER": m.PaymentMethod.TRANSFER, "VIREMENT": m.PaymentMethod.TRANSFER, "VIR": m.PaymentMethod.TRANSFER,
           "COD": m.PaymentMethod.COD, "CR": m.PaymentMethod.COD}


def parse_method(text: str) -> m.PaymentMethod:
    method = METHODS.get(text.strip().upper())
    if method is None:
        raise ValueError(text)
    return method


def parse_qty(text: str) -> int:
    """Ascii digits only (no sign, no other scripts' digits), 1 to 9999."""
    if not text:
        return 1
    if not (text.isascii() and text.isdigit()) or len(text) > 4 or not 1 <= int(text) <= 9999:
        raise ValueError(text)
    return int(text)


class AuthorizingMixin:
    """Runs engine calls that reach the acquirer in an exclusive app-level worker, so the panel stays
    responsive and F12 can leave without losing the order (the outcome then comes as a notification)."""

    busy = False

    def run_auth(self, call: Callable[[], Awaitable[ValidationResult]],
                 done: Callable[[ValidationResult], None], failed: Callable[[Exception], None]) -> None:
        self.busy = True
        self.set_status(t("entry.authorizing"))

        async def job() -> None:
            try:
                res = await call()
            except USER_ERRORS as exc:
                self.busy = False
                if self.still_shown():
                    self.set_status("")
                    failed(exc)
                else:
                    self.app.notify_outcome(tx(exc), error=True)  # type: ignore[attr-defined]
                return
            self.busy = False
            if self.still_shown():
                self.set_status("")
                done(res)
            else:
                self.app.notify_outcome(summary(res))  # type: ignore[attr-defined]

        self.app.run_worker(job(), exclusive=True, group="auth", exit_on_error=False)  # type: ignore[attr-defined]

    def still_shown(self) -> bool:
        return self in self.app.screen_stack  # type: ignore[attr-defined]

    def set_status(self, text: str) -> None:
        try:
            self.query_one("#status", Static).update(text)  # type: ignore[attr-defined]
        except NoMatches:
            if text:
                self.message(text)  # type: ignore[attr-defined]


def summary(res: ValidationResult) -> str:
    oid = res.order.id
    if res.note:
        return t("entry.validated_note", order=oid, note=tx(res.note))
    f = res.failed
    if f is not None:
        return t("entry.awaiting", order=oid, headline=t(f"category.{f.category.value}"), code=f.code)
    codes = ", ".join(a.auth_code for a in res.answers if a.auth_code) or "-"
    return t("entry.approved", order=oid, codes=codes)


class OrderEntryScreen(AuthorizingMixin, CardEntry, D400Screen):
    SCREEN_ID = "ORDENT"
    TITLE_KEY = "entry.title"
    LEGEND_KEY = "legend.entry"
    BINDINGS = [*D400Screen.BINDINGS,
                Binding("f4", "prompt", t("key.f4"), show=False, id="d400.prompt", tooltip=t("key.f4")),
                Binding("f5", "refresh", t("key.f5"), show=False, id="d400.refresh", tooltip=t("key.f5")),
                Binding("ctrl+r", "refresh", t("key.f5"), show=False, id="d400.refresh.ctrl", tooltip=t("key.f5")),
                Binding("f10", "validate", t("key.f10"), show=False, id="d400.validate", tooltip=t("key.f10"))]

    def __init__(self, draft: dict[str, Any] | None = None, modify: m.Order | None = None) -> None:
        super().__init__()
        self._draft = draft
        self._modify = modify
        self._saved: dict[str, Any] | None = None  # the draft last written, to skip identical saves
        if modify is not None:
            self.SCREEN_ID = "ORDMOD"
            self.TITLE_KEY = "entry.modify_title"
            self.LEGEND_KEY = "legend.modify"
        self._card: CardData | None = None
        self._order_id: int | None = None
        # what was read from the catalogue while typing: F10 does not read it again (F5 does)
        self._customers: dict[int, m.Customer] = {}
        self._articles: dict[str, m.Article] = {}

    def compose(self) -> ComposeResult:
        yield from self.frame_top()
        with Vertical(classes="body"):
            with Horizontal(classes="row"):
                yield Static(t("entry.customer"), classes="lbl", markup=False)
                yield EntryField(width=8, id="customer")
                yield Static("", id="customer-name", markup=False)
            yield Static(t("entry.lines_head"), classes="label", markup=False)
            for i in range(LINES):
                with Horizontal(classes="row"):
                    yield EntryField(width=12, upper=True, id=f"art-{i}")
                    yield EntryField(width=4, id=f"qty-{i}")
                    yield Static("", id=f"line-{i}", markup=False)
            yield Static("", id="totals", markup=False)
            yield from self.compose_payment()
            with Horizontal(classes="row"):
                yield Static(t("entry.plan"), classes="lbl", markup=False)
                yield EntryField("I", width=14, upper=True, id="plan")
                yield Static(t("entry.plan_hint"), classes="hint", markup=False)
            yield Static("", id="status", classes="strong", markup=False)
        yield from self.frame_bottom()

    def on_mount(self) -> None:
        if self._modify is not None:
            self._fill_from_order(self._modify)
            return
        if self._draft is not None:
            self._fill_from_draft(self._draft)
            self._saved = self.draft_content()
            self.message(t("draft.resumed"))
            return
        self.query_one("#customer", EntryField).focus()

    # -- drafts ------------------------------------------------------------------------------------
    def draft_content(self) -> dict[str, Any]:
        """The fields worth keeping if the terminal drops. Never the card number, expiry or CVV."""
        return {"v": 1, "customer": self.f("customer").value[:9],
                "lines": [[self.f(f"art-{i}").value[:12], self.f(f"qty-{i}").value[:4]] for i in range(LINES)],
                "method": self.f("method").value[:8], "plan": self.f("plan").value[:14]}

    @staticmethod
    def _is_empty(content: dict[str, Any]) -> bool:
        return not content["customer"].strip() and not any(a.strip() or q.strip() for a, q in content["lines"])

    def save_draft(self) -> None:
        """Each step (a field left, a line added) is saved; nothing while the order is being placed."""
        if self._modify is not None or self.busy or self._order_id is not None or not self.is_mounted:
            return
        content = self.draft_content()
        if content == self._saved or (self._saved is None and self._is_empty(content)):
            return
        try:
            self.engine.save_draft(self.actor, content)
        except USER_ERRORS as exc:
            self.message(tx(exc), error=True)
            return
        self._saved = content

    def discard_draft(self) -> None:
        if self._modify is not None:
            return
        self._saved = None
        try:
            self.engine.discard_draft(self.actor)
        except USER_ERRORS:
            pass

    def _fill_from_draft(self, d: dict[str, Any]) -> None:
        def text(v: object, n: int) -> str:
            return "".join(ch for ch in str(v or "") if ch.isprintable())[:n]

        self.f("customer").value = text(d.get("customer"), 9)
        rows = d.get("lines") if isinstance(d.get("lines"), list) else []
        for i, row in enumerate(rows[:LINES]):  # type: ignore[index]
            if isinstance(row, list) and len(row) == 2:
                self.f(f"art-{i}").value = text(row[0], 12)
                self.f(f"qty-{i}").value = text(row[1], 4)
        self.f("method").value = text(d.get("method"), 8) or "CARD"
        self.f("plan").value = text(d.get("plan"), 14) or "I"
        self._read_customer(quiet=True)
        self._show_totals()
        has_line = any(self.f(f"art-{i}").text for i in range(LINES))
        card = self.f("method").text in ("", "CARD", "CARTE", "CB")
        target = "customer" if not self.f("customer").text else "art-0" if not has_line else "card" if card else "plan"
        self.f(target).focus()  # what is left to type: the card is never in a draft

    def _fill_from_order(self, o: m.Order) -> None:
        self.f("customer").value = str(o.customer_id)
        for i, line in enumerate(o.lines[:LINES]):
            self.f(f"art-{i}").value = line.article_code
            self.f(f"qty-{i}").value = str(line.quantity)
        self.f("method").value = o.payment_method.value
        self.f("plan").value = (o.plan or "")[:14]
        self.f("card").value = str(o.card or "")
        for wid in ("customer", "method", "plan", "card", "expiry", "cvv"):
            self.f(wid).disabled = True
        self._read_customer(quiet=True)
        self._show_totals()
        self.query_one("#status", Static).update(t("entry.modify_head", order=o.id))
        self.f("art-0").focus()

    @on(Input.Blurred, "#method, #plan")
    def _other_left(self) -> None:
        self.save_draft()

    # -- F5: prices and labels read again ----------------------------------------------------------
    def action_refresh(self) -> None:
        self._customers.clear()
        self._articles.clear()
        self.clear_errors()
        self._read_customer(quiet=True)
        self._show_totals()
        self.message(t("entry.refreshed"))

    # -- field helpers -----------------------------------------------------------------------------
    def f(self, wid: str) -> EntryField:
        return self.query_one(f"#{wid}", EntryField)

    def fields(self) -> dict[str, EntryField]:
        return {"customer": self.f("customer"), "article": self.f("art-0"), "card": self.f("card"),
                "expiry": self.f("expiry"), "cvv": self.f("cvv"), "method": self.f("method"),
                "plan": self.f("plan")}

    @on(Input.Blurred, "#card")
    def _card_left(self) -> None:
        err = self.leave_card_field()
        if err:
            self.field_error(None, err)
            self.f("card").mark_error(True)

    @on(Input.Blurred, "#customer")
    def _customer_left(self) -> None:
        self._read_customer(quiet=True)
        self.save_draft()

    @on(Input.Blurred)
    def _line_left(self, event: Input.Blurred) -> None:
        wid = event.input.id or ""
        if wid.startswith(("art-", "qty-")):
            self._read_line(int(wid.split("-")[1]), quiet=True)
            self._show_totals()
            self.save_draft()

    def _read_customer(self, quiet: bool = False) -> m.Customer | None:
        field = self.f("customer")
        text = field.text
        name = self.query_one("#customer-name", Static)
        if not text:
            name.update("")
            if not quiet:
                self.field_error(field, t("entry.customer_required"))
            return None
        if not (text.isascii() and text.isdigit()) or len(text) > 9:
            name.update("")
            if not quiet:
                self.field_error(field, t("entry.customer_digits"))
            return None
        try:
            c = self._customers.get(int(text)) or self.engine.get_customer(int(text))
        except USER_ERRORS as exc:
            name.update("")
            if not quiet:
                self.show_error(exc, {"customer": field})
            return None
        self._customers[c.id] = c
        name.update(f" {c.name[:30]}, {c.postcode} {c.city[:20]}")
        return c

    def _read_line(self, i: int, quiet: bool = False) -> tuple[m.Article, int] | None:
        """The article and quantity of row i; None for an empty row; raises nothing, shows errors."""
        art_f, qty_f, out = self.f(f"art-{i}"), self.f(f"qty-{i}"), self.query_one(f"#line-{i}", Static)
        code, qty_text = art_f.text, qty_f.text
        if not code:
            out.update("")
            if qty_text and not quiet:
                self.field_error(art_f, t("entry.article_required"))
                raise ValueError
            return None
        try:
            qty = parse_qty(qty_text)
        except ValueError:
            out.update("")
            if not quiet:
                self.field_error(qty_f, t("entry.qty_invalid"))
                raise
            return None
        try:
            art = self._articles.get(code) or self.engine.get_article(code)
            self._articles[code] = art
        except USER_ERRORS as exc:
            out.update("")
            if not quiet:
                self.show_error(exc, {"article": art_f})
                raise ValueError from exc
            return None
        line = m.OrderLine(art.code, art.label, qty, art.unit_price, art.vat_rate)
        out.update(f" {art.label[:26]:<26}{amount(art.unit_price):>9}{amount(art.vat_rate):>6}{amount(line.gross):>11}")
        return art, qty

    def _lines(self, quiet: bool = False) -> list[tuple[m.Article, int]]:
        out = []
        for i in range(LINES):
            got = self._read_line(i, quiet)
            if got:
                out.append(got)
        return out

    def _show_totals(self) -> None:
        lines = [m.OrderLine(a.code, a.label, q, a.unit_price, a.vat_rate) for a, q in self._lines(quiet=True)]
        net, vat, gross = m.order_totals(lines)
        self.query_one("#totals", Static).update(t("entry.totals", net=amount(net), vat=amount(vat),
                                                     gross=amount(gross)))

    # -- keys --------------------------------------------------------------------------------------
    def action_prompt(self) -> None:
        from .prompt import PromptScreen

        focused = self.focused
        wid = focused.id if focused is not None else ""
        if wid == "customer":
            def chosen_customer(key: object) -> None:
                if key is not None:
                    self.f("customer").value = str(key)
                    self._read_customer(quiet=True)
                    self.f("art-0").focus()

            self.app.push_screen(PromptScreen("customer"), chosen_customer)
        elif wid and wid.startswith("art-"):
            target = self.f(wid)

            def chosen_article(key: object) -> None:
                if key is not None:
                    target.value = str(key)
                    self.f(wid.replace("art-", "qty-")).focus()

            self.app.push_screen(PromptScreen("article", target.text), chosen_article)
        else:
            self.message(t("entry.no_prompt"))

    @on(Input.Submitted)
    def process(self) -> None:
        """Enter checks what was typed and shows prices and totals; F10 validates."""
        if self.busy:
            self.message(t("entry.authorizing"))
            return
        self.clear_errors()
        if self.focused is not None and self.focused.id == "card":
            self._card_left()
        if self._read_customer() is None:
            return
        try:
            self._lines()
        except ValueError:
            return
        self._show_totals()
        self.message(t("entry.press_f10"))

    def action_validate(self) -> None:
        if self.busy:
            self.message(t("entry.authorizing"))
            return
        self.clear_errors()
        fields = self.fields()
        if self._read_customer() is None:
            return
        try:
            lines = self._lines()
        except ValueError:
            return
        self._show_totals()
        if not lines:
            self.field_error(self.f("art-0"), t("entry.no_line"))
            return
        if self._modify is not None:
            oid = self._modify.id or 0
            self._order_id = oid
            items = [(a.code, q) for a, q in lines]
            self.run_auth(lambda: self.engine.modify_lines(self.actor, oid, items), self._modified, self._refused)
            return
        try:
            method = parse_method(fields["method"].text or "CARD")
        except ValueError:
            self.field_error(fields["method"], t("entry.method_invalid"))
            return
        try:
            plan = m.Plan.parse(fields["plan"].text.replace(" ", ""), self.today())
        except USER_ERRORS as exc:
            self.field_error(fields["plan"], tx(exc))
            return
        card = None
        if method is m.PaymentMethod.CARD:
            try:
                card = self.read_card(self.today())
            except USER_ERRORS as exc:
                self.show_error(exc, fields)
                return
        self._card = card
        customer_id = int(fields["customer"].text)
        items = [(a.code, q) for a, q in lines]
        self.run_auth(lambda: self.engine.place_order(self.actor, customer_id, items, card, m.Channel.PHONE,
                                                      method, plan),
                      self._answered, self._refused)

    # -- outcomes ----------------------------------------------------------------------------------
    def _refused(self, exc: Exception) -> None:
        if self._modify is not None:
            self._order_id = None
        self.show_error(exc, self.fields())

    def _modified(self, res: ValidationResult) -> None:
        """Modify mode: what was voided and the new answers, then the decision panel on a refusal."""
        notes = [t("entry.modify_void", message=tx(v.message), amount=amount(v.amount)) for v in res.voids]
        head = t("entry.modified", order=res.order.id, total=amount(res.order.total))
        self.query_one("#status", Static).update("\n".join([head, *notes])[:400])
        self._modify = res.order
        self._answered(res)

    def _answered(self, res: ValidationResult) -> None:
        self._order_id = res.order.id
        if res.needs_decision and res.failed is not None:
            self.message(summary(res), error=True)
            self.app.push_screen(self.d400.decision_screen(res.failed, res.order.id or 0), self._decided)
            self.call_after_refresh(self.discard_draft)  # the order exists now; after the panel is painted
            return
        self._finish(summary(res))

    def _decided(self, kind: m.DecisionKind | None) -> None:
        oid = self._order_id or 0
        if kind is None:
            self._finish(t("entry.undecided", order=oid), error=True)
            return
        card = self._card if kind is m.DecisionKind.RETRY else None

        def after(res: ValidationResult) -> None:
            if kind is m.DecisionKind.RETRY:
                self._answered(res)
            elif kind is m.DecisionKind.CHANGE_METHOD:
                from .payment_change import PaymentChangeScreen

                self._finish(t("decision.recorded", order=oid, decision=t(f"decision.kind_{kind.value}")))
                self.app.push_screen(PaymentChangeScreen(oid))
            else:
                self._finish(t("decision.recorded", order=oid, decision=t(f"decision.kind_{kind.value}")))

        self.run_auth(lambda: self.engine.decide(self.actor, oid, kind, card=card), after, self._decide_failed)

    def _decide_failed(self, exc: Exception) -> None:
        self._finish(tx(exc), error=True)

    def _finish(self, text: str, error: bool = False) -> None:
        """The order is done with (validated, decided or left awaiting): clear for the next call
        (in modify mode: back to the list, with the outcome on its message line)."""
        if self._modify is not None:
            self._order_id = None
            self.dismiss(text)
            return
        self.discard_draft()
        self._card = None
        self.forget_card()
        for fld in self.query(EntryField):
            fld.value = ""
            fld.mark_error(False)
        self.f("method").value = "CARD"
        self.f("plan").value = "I"
        for i in range(LINES):
            self.query_one(f"#line-{i}", Static).update("")
        self.query_one("#customer-name", Static).update("")
        self.query_one("#totals", Static).update("")
        self._order_id = None
        self.message(text, error=error)
        self.f("customer").focus()

    def action_back(self) -> None:
        """F12 abandons the order being typed: its draft goes too (a dropped terminal keeps it)."""
        self._card = None
        self._pan = None
        self.discard_draft()
        super().action_back()

    def action_exit(self) -> None:
        self._card = None
        self._pan = None
        self.discard_draft()
        super().action_exit()
