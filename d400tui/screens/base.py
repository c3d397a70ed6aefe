"""What every panel shares: header line, function-key legend, message line, F3/F12 and error display.

Nothing here imports the engine or the domain at module level: the sign-on screen is built on this
module and must be on screen before SQLAlchemy, the acquirers and the card parser are loaded."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import TYPE_CHECKING, Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen, Screen
from textual.widget import Widget
from textual.widgets import Static

from d400tui.i18n import t
from d400tui.i18n.engine_text import tx
from d400tui.widgets import EntryField, FKeyLegend, HeaderLine, MessageLine

if TYPE_CHECKING:
    from d400tui.app import D400App
    from d400tui.domain import model as m
    from d400tui.domain.cards import CardData, MaskedCard
    from d400tui.engine import Engine


def _b(key: str, action: str, bid: str, tip: str, priority: bool = False) -> Binding:
    return Binding(key, action, t(tip), show=False, id=bid, tooltip=t(tip), priority=priority)


EXIT = _b("f3", "exit", "d400.exit", "key.f3")
CANCEL = _b("f12", "back", "d400.cancel", "key.f12")
CANCEL_ESC = _b("escape", "back", "d400.cancel.esc", "key.f12")


class D400Mixin:
    """Helpers for the message line and fields in error; mixed into Screen and ModalScreen."""

    SCREEN_ID = ""
    TITLE_KEY = ""
    LEGEND_KEY = "legend.default"

    @property
    def d400(self) -> D400App:
        return self.app  # type: ignore[attr-defined,no-any-return]

    @property
    def engine(self) -> Engine:
        return self.d400.engine

    @property
    def actor(self) -> m.Actor:
        assert self.d400.actor is not None
        return self.d400.actor

    def today(self) -> date:
        return self.d400.d400_now().date()

    def frame_top(self) -> ComposeResult:
        yield HeaderLine(self.SCREEN_ID, t(self.TITLE_KEY))

    def frame_bottom(self) -> ComposeResult:
        with Vertical(id="footer"):
            yield FKeyLegend(t(self.LEGEND_KEY))
            yield MessageLine()

    def message(self, text: str, error: bool = False) -> None:
        self.query_one(MessageLine).show(text, error)  # type: ignore[attr-defined]

    @property
    def message_text(self) -> str:
        return self.query_one(MessageLine).text  # type: ignore[attr-defined,no-any-return]

    def clear_errors(self) -> None:
        for f in self.query(EntryField):  # type: ignore[attr-defined]
            f.mark_error(False)
        self.message("")

    def field_error(self, field: EntryField | None, text: str) -> None:
        self.message(text, error=True)
        if field is not None:
            field.mark_error(True)
            field.focus()

    def show_error(self, exc: BaseException, fields: dict[str, EntryField] | None = None) -> None:
        """A user error from the engine or the domain: message line, field in reverse image, cursor on it."""
        name = getattr(exc, "field", None)
        self.field_error((fields or {}).get(name or ""), tx(exc))


class D400Screen(D400Mixin, Screen[Any]):
    BINDINGS = [EXIT, CANCEL, CANCEL_ESC]

    def action_exit(self) -> None:
        self.d400.to_menu()

    def action_back(self) -> None:
        self.dismiss(None)


class D400Modal(D400Mixin, ModalScreen[Any]):
    BINDINGS = [CANCEL, CANCEL_ESC]

    def action_back(self) -> None:
        self.dismiss(None)

    def select_from(self, sf: Any) -> bool:
        """A prompt list: "1" typed in front of a row returns that row's key; any other code is
        refused on the message line. True when an option was typed (handled), False when none."""
        self.clear_errors()
        for i, key, code in sf.options():
            if code == "1":
                self.dismiss(key)
            else:
                self.field_error(sf.option_field(i), t("common.bad_option", code=code[:1]))
            return True
        return False


class CardEntry:
    """The card fields of a panel. The full number lives only in `_pan` (a private attribute, never a
    widget, reactive or log) from the moment the field is left until the panel's F10 is processed."""

    _pan: str | None = None

    def compose_payment(self) -> ComposeResult:
        """The payment-method row and the card row (number, expiry, CVV), as both entry panels show them."""
        with Horizontal(classes="row"):
            yield Static(t("entry.method"), classes="lbl", markup=False)
            yield EntryField("CARD", width=8, upper=True, id="method")
            yield Static(t("entry.method_hint"), classes="hint", markup=False)
        with Horizontal(classes="row"):
            yield Static(t("entry.card"), classes="lbl", markup=False)
            yield EntryField(width=19, max_length=23, id="card")
            yield Static(t("entry.expiry"), classes="lbl", markup=False)
            yield EntryField(width=5, max_length=7, id="expiry")
            yield Static(t("entry.cvv"), classes="lbl", markup=False)
            yield EntryField(width=4, password=True, id="cvv")

    def card_fields(self) -> tuple[EntryField, EntryField, EntryField]:
        q = self.query_one  # type: ignore[attr-defined]
        return q("#card", EntryField), q("#expiry", EntryField), q("#cvv", EntryField)

    def leave_card_field(self) -> str | None:
        """Mask what was typed in the card field; returns an error message, if any."""
        pan_f = self.card_fields()[0]
        shown = pan_f.value
        if self._pan and shown == self._masked(self._pan):
            return None
        if not shown.strip():
            self._pan = None
            return None
        from d400tui.domain.cards import clean_pan
        from d400tui.engine import USER_ERRORS

        try:
            self._pan = clean_pan(shown)
        except USER_ERRORS as exc:
            self._pan = None
            pan_f.value = ""
            return tx(exc)
        pan_f.value = self._masked(self._pan)
        pan_f.cursor_position = len(pan_f.value)
        return None

    @staticmethod
    def _masked(pan: str) -> str:
        return f"{pan[:6]}…{pan[-4:]}"

    def read_card(self, today: date) -> CardData | None:
        """CardData for the acquirer (raises CardError with the field to fix)."""
        from d400tui.domain.cards import CardError, card_from_entry

        pan_f, exp_f, cvv_f = self.card_fields()
        err = self.leave_card_field()
        if err:
            raise CardError(err, field="card")
        if not self._pan:
            raise CardError(t("card.required"), field="card")
        return card_from_entry(self._pan, exp_f.text, cvv_f.text or None, today)

    def forget_card(self) -> None:
        self._pan = None
        pan_f, exp_f, cvv_f = self.card_fields()
        pan_f.value = ""
        cvv_f.value = ""

    @staticmethod
    def masked_of(card: CardData | None) -> MaskedCard | None:
        return card.masked if card else None


def field_map(screen: Widget, names: Iterable[tuple[str, str]]) -> dict[str, EntryField]:
    return {name: screen.query_one(f"#{wid}", EntryField) for name, wid in names}
