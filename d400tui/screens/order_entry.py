"""ORDENT — phone order entry: customer, lines, payment method, card, plan; F10 authorizes in a worker
and shows the answer inline (the decision panel on a refusal or an unavailable service).

What is typed is saved as the operator's draft each time a field is left (never the card number,
expiry or CVV), so a dropped terminal finds it again at the next sign-on; the draft is discarded
once the order exists or the operator leaves the panel with F3/F12.

ORDMOD is the same panel in "modify" mode (option 2 of work with orders): the lines of an existing
order, F10 = engine.modify_lines, which voids and re-authorizes a validated card order."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from textual import events, on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Input, Static

from d400tui.domain import model as m
from d400tui.domain.cards import CardData, MaskedCard
from d400tui.engine import USER_ERRORS, ValidationResult
from d400tui.i18n import t
from d400tui.i18n.render import tx
from d400tui.widgets import EntryField

from .authorizing import AuthorizingMixin, summary
from .base import CardEntry, D400Screen
from .entry_codes import METHOD_TEXT, METHODS, method_word, parse_method, parse_plan, parse_qty, plan_word
from .fmt import amount
from .keys import keys
from .registry import decision_panel

LINES = 6
CUSTOMER_DIGITS = 6  # the ERP's customer numbers (100001…): the field auto-advances when they are typed


class OrderEntryScreen(AuthorizingMixin, CardEntry, D400Screen):
    SCREEN_ID = "ORDENT"
    TITLE_KEY = "entry.title"
    LEGEND_KEY = "legend.entry"
    BINDINGS = keys("arrows", "prompt", "refresh", "network", f10="validate")

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
        self._offered: MaskedCard | None = None  # the customer's card on file, shown masked
        self._on_file: MaskedCard | None = None  # ... once chosen with "*" in the card field
        self._offered_for: int | None = None  # the customer whose card on file was looked up

    def compose(self) -> ComposeResult:
        yield from self.frame_top()
        with Vertical(classes="body"):
            with Horizontal(classes="row"):
                yield Static(t("entry.customer"), classes="lbl", markup=False)
                yield EntryField(
                    width=8, max_length=CUSTOMER_DIGITS, id="customer", complete=lambda v: len(v) >= CUSTOMER_DIGITS
                )
                yield Static("", id="customer-name", markup=False)
            yield Static(t("entry.lines_head"), classes="label", markup=False)
            for i in range(LINES):
                with Horizontal(classes="row"):
                    yield EntryField(width=12, upper=True, id=f"art-{i}")
                    yield EntryField(width=4, id=f"qty-{i}")
                    yield Static("", id=f"line-{i}", markup=False)
            yield Static("", id="totals", markup=False)
            yield from self.compose_payment()
            yield Static("", id="onfile", classes="hint", markup=False)
            with Horizontal(classes="row"):
                yield Static(t("entry.plan"), classes="lbl", markup=False)
                yield EntryField("I", width=14, upper=True, id="plan", replace=True)
                yield Static(" " + t("entry.plan_immediate"), id="plan-word", classes="word", markup=False)
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
        return {
            "v": 1,
            "customer": self.f("customer").value[:9],
            "lines": [[self.f(f"art-{i}").value[:12], self.f(f"qty-{i}").value[:4]] for i in range(LINES)],
            "method": self.f("method").value[:8],
            "plan": self.f("plan").value[:14],
        }

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
        self.f("method").value = text(d.get("method"), 8) or t("entry.method_default")
        self.f("plan").value = text(d.get("plan"), 14) or "I"
        self._read_customer(quiet=True)
        self._show_totals()
        has_line = any(self.f(f"art-{i}").text for i in range(LINES))
        card = self._is_card()
        target = "customer" if not self.f("customer").text else "art-0" if not has_line else "card" if card else "plan"
        self.f(target).focus()  # what is left to type: the card is never in a draft

    def _fill_from_order(self, o: m.Order) -> None:
        self.f("customer").value = str(o.customer_id)
        for i, line in enumerate(o.lines[:LINES]):
            self.f(f"art-{i}").value = line.article_code
            self.f(f"qty-{i}").value = str(line.quantity)
        self.f("method").value = METHOD_TEXT[o.payment_method]
        self.f("plan").value = (o.plan or "")[:14]
        self.f("card").value = str(o.card or "")
        for wid in ("customer", "method", "plan", "card", "expiry", "cvv"):
            self.f(wid).disabled = True
        self._read_customer(quiet=True)
        self._show_totals()
        self._show_words()
        self.query_one("#status", Static).update(t("entry.modify_head", order=o.id))
        self.f("art-0").focus()

    @on(Input.Blurred, "#method, #plan")
    def _other_left(self) -> None:
        self._show_words()
        self.save_draft()

    def _is_card(self) -> bool:
        return METHODS.get(self.f("method").text or "CARTE") is m.PaymentMethod.CARD

    def _show_words(self) -> None:
        """The words beside the method and plan fields (never a code alone); errors as the field is left."""
        meth, plan = self.f("method"), self.f("plan")
        word = method_word(meth.text or "CARTE")
        self.query_one("#method-word", Static).update(" " + word)
        if not word:
            self.flag_error(meth, t("entry.method_invalid"))
        try:
            shown = plan_word(parse_plan(plan.text, self.today()))
        except USER_ERRORS as exc:
            shown = ""
            if plan.text:
                self.flag_error(plan, tx(exc))
        self.query_one("#plan-word", Static).update(" " + shown)

    # -- F5: prices and labels read again ----------------------------------------------------------
    def action_refresh(self) -> None:
        self._customers.clear()
        self._articles.clear()
        self._offered_for = None
        self.clear_errors()
        self._read_customer(quiet=True)
        self._show_totals()
        self.message(t("entry.refreshed"))

    # -- field helpers -----------------------------------------------------------------------------
    def f(self, wid: str) -> EntryField:
        return self.query_one(f"#{wid}", EntryField)

    def fields(self) -> dict[str, EntryField]:
        return {
            "customer": self.f("customer"),
            "article": self.f("art-0"),
            "card": self.f("card"),
            "expiry": self.f("expiry"),
            "cvv": self.f("cvv"),
            "method": self.f("method"),
            "plan": self.f("plan"),
        }

    @on(Input.Blurred, "#card")
    def _card_left(self) -> bool:
        """Mask the number as the field is left; False (and the reason shown) when it is wrong."""
        if self._on_file is not None:
            return True
        err = self.leave_card_field()
        if err:
            self.message(err, error=True)
            return False
        return True

    @on(Input.Changed, "#card")
    def _card_edited(self, event: Input.Changed) -> None:
        """Editing a number in error (Backspace, Delete) lets the operator type again."""
        fld = self.f("card")
        if fld.refuse_typing and event.value != getattr(self, "_wrong_value", None):
            fld.mark_error(False)
        self._wrong_value = event.value if fld.refuse_typing else None

    def on_descendant_focus(self, event: events.DescendantFocus) -> None:
        if getattr(event.widget, "id", None) == "card" and not self.busy:
            if self._on_file is not None:
                self._drop_on_file()
            self.card_reentered()

    @on(Input.Blurred, "#customer")
    def _customer_left(self) -> None:
        self._read_customer(quiet=not self.f("customer").text, flag=True)
        self.save_draft()

    @on(Input.Blurred)
    def _line_left(self, event: Input.Blurred) -> None:
        wid = event.input.id or ""
        if wid.startswith(("art-", "qty-")):
            i = int(wid.split("-")[1])
            try:
                self._read_line(i, quiet=not (self.f(f"art-{i}").text or self.f(f"qty-{i}").text), flag=True)
            except ValueError:
                pass
            self._show_totals()
            self.save_draft()

    # -- card on file ------------------------------------------------------------------------------
    def _offer_card(self, customer: m.Customer | None) -> None:
        """A returning customer: their last approved card, masked; "*" in the card field chooses it.
        Read once per customer typed (not again at each Enter or F10: F5 reads it again)."""
        key = customer.id if customer is not None else None
        if key == self._offered_for:
            return
        self._offered_for = key
        offered = None
        if customer is not None and self._modify is None:
            from d400tui.engine.card_on_file import card_on_file

            try:
                offered = card_on_file(self.engine, customer.id or 0)
            except USER_ERRORS:
                offered = None
        if offered != self._offered:
            self._drop_on_file()
        self._offered = offered
        self.query_one("#onfile", Static).update(
            t("entry.onfile", card=str(offered), expiry=offered.expiry) if offered else ""
        )

    def _choose_on_file(self) -> bool:
        pan_f, exp_f, cvv_f = self.card_fields()
        if self._offered is None:
            pan_f.value = ""
            self.flag_error(pan_f, t("entry.onfile_none"))
            return False
        self._on_file = self._offered
        self._pan = None
        pan_f.mark_error(False)
        pan_f.value = t("entry.onfile_chosen", card=str(self._offered))
        exp_f.value = self._offered.expiry
        cvv_f.value = ""
        self.message(t("entry.onfile_used", card=str(self._offered)))
        return True

    def _drop_on_file(self) -> None:
        if self._on_file is None:
            return
        self._on_file = None
        pan_f, exp_f, _ = self.card_fields()
        pan_f.value = ""
        exp_f.value = ""

    def _error(self, field: EntryField, text: str, flag: bool) -> None:
        """Field exit (flag): shown, the cursor goes on; Enter/F10 (not flag): the cursor goes back."""
        (self.flag_error if flag else self.field_error)(field, text)

    def _read_customer(self, quiet: bool = False, flag: bool = False) -> m.Customer | None:
        field = self.f("customer")
        text = field.text
        name = self.query_one("#customer-name", Static)
        c: m.Customer | None = None
        if not text:
            if not quiet:
                self._error(field, t("entry.customer_required"), flag)
        elif not (text.isascii() and text.isdigit()) or len(text) > 9:
            if not quiet:
                self._error(field, t("entry.customer_digits"), flag)
        else:
            try:
                c = self._customers.get(int(text)) or self.engine.get_customer(int(text))
            except USER_ERRORS as exc:
                if not quiet:
                    self._error(field, tx(exc), flag)
        if c is None:
            name.update("")
            self._offer_card(None)
            return None
        self._customers[c.id] = c
        field.mark_error(False)
        name.update(f" {c.name[:30]}, {c.postcode} {c.city[:20]}")
        self._offer_card(c)
        return c

    def _read_line(self, i: int, quiet: bool = False, flag: bool = False) -> tuple[m.Article, int] | None:
        """The article and quantity of row i; None for an empty row; raises nothing, shows errors."""
        art_f, qty_f, out = self.f(f"art-{i}"), self.f(f"qty-{i}"), self.query_one(f"#line-{i}", Static)
        code, qty_text = art_f.text, qty_f.text
        if not code:
            out.update("")
            if qty_text and not quiet:
                self._error(art_f, t("entry.article_required"), flag)
                raise ValueError
            return None
        try:
            qty = parse_qty(qty_text)
        except ValueError:
            out.update("")
            if not quiet:
                self._error(qty_f, t("entry.qty_invalid"), flag)
                raise
            return None
        try:
            art = self._articles.get(code) or self.engine.get_article(code)
            self._articles[code] = art
        except USER_ERRORS as exc:
            out.update("")
            if not quiet:
                self._error(art_f, tx(exc), flag)
                raise ValueError from exc
            return None
        line = m.OrderLine(art.code, art.label, qty, art.unit_price, art.vat_rate)
        art_f.mark_error(False)
        qty_f.mark_error(False)
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
        self.query_one("#totals", Static).update(
            t("entry.totals", net=amount(net), vat=amount(vat), gross=amount(gross))
        )

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
        elif wid in ("method", "plan"):
            from .prompt import prompt_codes

            prompt_codes(self, wid, self.f(wid))
        else:
            self.message(t("entry.no_prompt"))

    # -- field movement, as on a 5250 ------------------------------------------------------------
    def _payment_start(self) -> str | None:
        if self._modify is not None:
            return None
        return "card" if self._is_card() else "plan"

    def _next_field(self, wid: str) -> str | None:
        """Where Enter (or a full fixed-length field) takes the cursor: customer → first article;
        article → its quantity (1 when left empty) → next article; an empty article → the payment
        block (the card number for a card order); card → expiry → CVV → plan; plan: none (F10)."""
        if wid == "customer":
            return "art-0"
        kind, _, n = wid.partition("-")
        if kind == "art":
            return f"qty-{n}" if self.f(wid).text else self._payment_start()
        if kind == "qty":
            return f"art-{int(n) + 1}" if int(n) + 1 < LINES else self._payment_start()
        if wid == "method":
            return "card" if self._is_card() else "plan"
        if wid == "card":
            return "plan" if self._on_file is not None else "expiry"
        return {"expiry": "cvv", "cvv": "plan"}.get(wid)

    def _advance(self, field: EntryField) -> None:
        wid = field.id or ""
        if wid == "card":
            if field.value.strip() == "*":
                if not self._choose_on_file():
                    return
            elif not self._card_left():
                field.focus()
                return
        nxt = self._next_field(wid)
        if nxt is None:
            self._check_all()
            return
        self.f(nxt).focus()

    @on(EntryField.Full)
    def _full(self, event: EntryField.Full) -> None:
        event.stop()
        if not self.busy and event.field is self.focused:
            self._advance(event.field)

    def action_field_down(self) -> None:
        """Down: the same column on the next line, else the next field."""
        self._vertical(+1)

    def action_field_up(self) -> None:
        self._vertical(-1)

    def _vertical(self, step: int) -> None:
        wid = (self.focused.id or "") if self.focused is not None else ""
        kind, _, n = wid.partition("-")
        if kind in ("art", "qty") and n.isdigit() and 0 <= int(n) + step < LINES:
            self.f(f"{kind}-{int(n) + step}").focus()
        elif step > 0:
            self.focus_next()
        else:
            self.focus_previous()

    @on(Input.Submitted)
    def process(self, event: Input.Submitted) -> None:
        """Enter moves to the next field a human would want; on the last one it checks the order."""
        if self.busy:
            self.message(t("entry.authorizing"))
            return
        if isinstance(event.input, EntryField):
            self._advance(event.input)

    def _check_all(self) -> None:
        self.clear_errors()
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
            method = parse_method(fields["method"].text or "CARTE")
        except ValueError:
            self.field_error(fields["method"], t("entry.method_invalid"))
            return
        try:
            plan = parse_plan(fields["plan"].text, self.today())
        except USER_ERRORS as exc:
            self.field_error(fields["plan"], tx(exc))
            return
        customer_id = int(fields["customer"].text)
        items = [(a.code, q) for a, q in lines]
        on_file = self._on_file
        if method is m.PaymentMethod.CARD and on_file is not None:
            from d400tui.engine.card_on_file import place_order_on_file

            self._card = None
            self.run_auth(
                lambda: place_order_on_file(self.engine, self.actor, customer_id, items, on_file, plan),
                self._answered,
                self._refused,
            )
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
            lambda: self.engine.place_order(self.actor, customer_id, items, card, m.Channel.PHONE, method, plan),
            self._answered,
            self._refused,
        )

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
            target = self.engine.failover_target(res.failed)  # S: the secondary acquirer, if any
            self.app.push_screen(
                decision_panel(self.app, res.failed, res.order.id or 0, failover=target), self._decided
            )
            self.call_after_refresh(self.discard_draft)  # the order exists now; after the panel is painted
            return
        self._finish(summary(res))

    def _decided(self, kind: m.DecisionKind | None) -> None:
        oid = self._order_id or 0
        if kind is None:
            self._finish(t("entry.undecided", order=oid), error=True)
            return
        card = self._card if kind in (m.DecisionKind.RETRY, m.DecisionKind.FAILOVER) else None

        def after(res: ValidationResult) -> None:
            if kind in (m.DecisionKind.RETRY, m.DecisionKind.FAILOVER):
                self._answered(res)
            elif kind is m.DecisionKind.CHANGE_METHOD:
                from .payment_change import PaymentChangeScreen

                self._finish(t("decision.recorded", order=oid, decision=t(f"decision.kind_{kind.value}")))
                self.app.push_screen(PaymentChangeScreen(oid))
            else:
                from .decision import decided_text

                self._finish(decided_text(res, oid, kind))  # advice: L on a stolen card is a request

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
        self.f("method").value = t("entry.method_default")
        self.f("plan").value = "I"
        self._on_file = self._offered = self._offered_for = None
        self.query_one("#onfile", Static).update("")
        self._show_words()
        for i in range(LINES):
            self.query_one(f"#line-{i}", Static).update("")
        self.query_one("#customer-name", Static).update("")
        self.query_one("#totals", Static).update("")
        self._order_id = None
        self.message(text, error=error)
        self.f("customer").focus()

    def _has_lines(self) -> bool:
        return any(self.f(f"art-{i}").text for i in range(LINES))

    def _leave(self, then: Callable[[], None]) -> None:
        """F12/F3: an order with lines asks "Abandonner la saisie ? (O/N)" first; its draft is kept
        until the answer (a dropped terminal meanwhile finds it at the next sign-on)."""
        if self.busy or self._modify is not None or not self._has_lines():
            self._abandon(then)
            return
        self.save_draft()
        from .draft import AbandonScreen

        def answered(yes: bool | None) -> None:
            if yes:
                self._abandon(then)
            else:
                self.message(t("entry.abandon_no"))

        self.app.push_screen(AbandonScreen(), answered)

    def _abandon(self, then: Callable[[], None]) -> None:
        self._card = None
        self._pan = None
        self.discard_draft()
        then()

    def action_back(self) -> None:
        """F12 abandons the order being typed: its draft goes too (a dropped terminal keeps it)."""
        self._leave(super().action_back)

    def action_exit(self) -> None:
        self._leave(super().action_exit)
