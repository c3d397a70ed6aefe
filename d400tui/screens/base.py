"""What every panel shares: header line, function-key legend, message line, F3/F12 and error display.

Nothing here imports the engine or the domain at module level: the sign-on screen is built on this
module and must be on screen before SQLAlchemy, the acquirers and the card parser are loaded."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, Protocol

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen, Screen
from textual.widget import Widget
from textual.widgets import Static

from d400tui.i18n import t
from d400tui.i18n.render import tx
from d400tui.widgets import EntryField, FKeyLegend, HeaderLine, MessageLine

from .keys import keys

if TYPE_CHECKING:
    from d400tui.config import Settings
    from d400tui.domain import model as m
    from d400tui.domain.cards import Brand, CardData, MaskedCard
    from d400tui.engine import Engine


class Host(Protocol):
    """What a panel asks of the application it runs in (D400App): the engine, who is signed on, the
    clock, and the moves between panels. The kept panels come from `registry`, not from here."""

    settings: Settings
    actor: m.Actor | None
    d400_now: Callable[[], datetime]

    @property
    def engine(self) -> Engine: ...

    def signed_on(self, actor: m.Actor, draft: tuple[datetime, dict[str, Any]] | None = None) -> None: ...

    def sign_off(self) -> None: ...

    def to_menu(self) -> None: ...

    def notify_outcome(self, text: str, error: bool = False) -> None: ...


class D400Mixin:
    """Helpers for the message line and fields in error; mixed into Screen and ModalScreen."""

    SCREEN_ID = ""
    TITLE_KEY = ""
    LEGEND_KEY = "legend.default"

    @property
    def d400(self) -> Host:
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

    def keyboard_locked(self) -> bool:
        """True while the panel waits for the host (an authorization, a sign-on check): the keyboard
        buffer then holds what is typed for the screen that follows."""
        return False

    def on_entry_field_refused(self, event: EntryField.Refused) -> None:
        event.stop()
        self.message(event.text, error=True)

    def action_field_help(self) -> None:
        """F1: what the field under the cursor takes (from the catalogue of strings, by field id)."""
        focused = self.focused  # type: ignore[attr-defined]
        wid = (focused.id or "") if focused is not None else ""
        base = wid.split("-")[0] if wid[-1:].isdigit() else wid
        screen = self.SCREEN_ID.lower()
        for key in (f"help.{screen}_{base}", f"help.{base}"):
            text = t(key)
            if text != key:
                self.message(text)
                return
        self.message(t("help.none"))

    def action_field_down(self) -> None:
        self.focus_next()  # type: ignore[attr-defined]

    def action_field_up(self) -> None:
        self.focus_previous()  # type: ignore[attr-defined]

    def flag_error(self, field: EntryField, text: str) -> None:
        """An error found as a field is left: shown, field in reverse image, the cursor goes on (what
        is typed ahead lands where the operator meant it; F10 puts the cursor back on the field)."""
        self.message(text, error=True)
        field.mark_error(True)

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
    BINDINGS = keys("exit", "cancel", "help")

    def action_exit(self) -> None:
        self.d400.to_menu()

    def action_back(self) -> None:
        self.dismiss(None)


class D400Modal(D400Mixin, ModalScreen[Any]):
    BINDINGS = keys("cancel", "help")

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
    _network: Brand | None = None  # network branch: the customer's choice on a co-badged card (None: CB)

    def compose_payment(self) -> ComposeResult:
        """The payment-method row and the card row (number, expiry, CVV), as both entry panels show them."""
        with Horizontal(classes="row"):
            yield Static(t("entry.method"), classes="lbl", markup=False)
            yield EntryField(t("entry.method_default"), width=8, upper=True, id="method", replace=True)
            yield Static(" " + t("method.CARD"), id="method-word", classes="word", markup=False)
            yield Static(t("entry.method_hint"), classes="hint", markup=False)
        with Horizontal(classes="row"):
            yield Static(t("entry.card"), classes="lbl", markup=False)
            yield EntryField(width=19, max_length=23, id="card", complete=self.card_complete)
            yield Static(t("entry.expiry"), classes="lbl", markup=False)
            yield EntryField(width=5, max_length=5, id="expiry", complete=expiry_complete)
            yield Static(t("entry.cvv"), classes="lbl", markup=False)
            yield EntryField(width=4, password=True, id="cvv", complete=self.cvv_complete)
        yield Static("", id="network", classes="hint", markup=False)

    # -- network branch (issue 13): the network of a co-badged card, CB unless the customer asks --
    def _networks(self) -> tuple[tuple[Brand, ...], tuple[Brand, ...]]:
        """(the choice offered, the networks the card goes on) for the number typed."""
        if not self._pan:
            return (), ()
        engine = self.engine  # type: ignore[attr-defined]
        return engine.network_choice(self._pan), engine.card_networks(self._pan)

    def show_network(self) -> None:
        choice, offered = self._networks()
        if choice:
            chosen = self._network if self._network in choice else choice[0]
            other = next(n for n in choice if n is not chosen)
            key = "network.choice" if chosen is choice[0] else "network.chosen"
            text = t(key, chosen=t(f"network.{chosen.value}"), other=t(f"network.{other.value}"))
        elif offered:
            text = t("network.only", network=t(f"network.{offered[0].value}"))
        else:
            text = ""
        self.query_one("#network", Static).update(text)  # type: ignore[attr-defined]

    def action_network(self) -> None:
        """F8: the other network of a co-badged card (the customer's right); one key, and back."""
        self.leave_card_field()
        choice, _ = self._networks()
        if not self._pan:
            return self.message(t("network.card_first"), error=True)  # type: ignore[attr-defined,no-any-return]
        if not choice:
            return self.message(t("network.no_choice"), error=True)  # type: ignore[attr-defined,no-any-return]
        chosen = self._network if self._network in choice else choice[0]
        self._network = next(n for n in choice if n is not chosen)
        self.show_network()
        self.message(t("network.switched", network=t(f"network.{self._network.value}")))  # type: ignore[attr-defined]

    def card_complete(self, value: str) -> bool:
        """Auto-advance: 16 digits (15 for an Amex prefix, 19 for Maestro, which is then left with Enter)."""
        digits = "".join(ch for ch in value if ch.isdigit())
        if value.strip() == "*":
            return True  # the card on file, chosen with one key
        if len(digits) < 15:
            return False
        from d400tui.domain.cards import Brand, brand_of

        if digits.startswith(("34", "37")):
            return len(digits) >= 15
        return len(digits) >= (19 if brand_of(digits) is Brand.MAESTRO else 16)

    def cvv_complete(self, value: str) -> bool:
        from d400tui.domain.cards import Brand, brand_of

        size = 4 if self._pan and brand_of(self._pan) is Brand.AMEX else 3
        return len(value) >= size

    def card_fields(self) -> tuple[EntryField, EntryField, EntryField]:
        q = self.query_one  # type: ignore[attr-defined]
        return q("#card", EntryField), q("#expiry", EntryField), q("#cvv", EntryField)

    def leave_card_field(self) -> str | None:
        """Mask what was typed in the card field; returns an error message, if any. A wrong number
        stays in the field for correction (reverse image, typing refused until it is edited)."""
        pan_f = self.card_fields()[0]
        shown = pan_f.value
        if self._pan and shown == self._masked(self._pan):
            return None
        if not shown.strip():
            self._pan = None
            return None
        from d400tui.domain.cards import Brand, brand_of, clean_pan
        from d400tui.engine import USER_ERRORS

        try:
            pan = clean_pan(shown)
        except USER_ERRORS as exc:
            self._pan = None
            return self._card_wrong(pan_f, tx(exc))
        if brand_of(pan) is Brand.UNKNOWN:
            self._pan = None
            return self._card_wrong(pan_f, t("card.unknown_brand"))
        if pan != self._pan:
            self._network = None  # another card: the default network again
        self._pan = pan
        pan_f.mark_error(False)
        pan_f.value = self._masked(pan)
        pan_f.cursor_position = len(pan_f.value)
        self.show_network()
        return None

    @staticmethod
    def _card_wrong(pan_f: EntryField, reason: str) -> str:
        text = reason[:1].upper() + reason[1:]
        pan_f.mark_error(True)
        pan_f.refuse_typing = text
        return text

    def card_reentered(self) -> None:
        """The cursor comes back on a masked card number: cleared for a new one."""
        pan_f = self.card_fields()[0]
        if self._pan and pan_f.value == self._masked(self._pan):
            self._pan = None
            self._network = None
            pan_f.value = ""
            self.show_network()

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
        return card_from_entry(self._pan, exp_f.text, cvv_f.text or None, today).on(self._network)

    def forget_card(self) -> None:
        self._pan = None
        self._network = None
        self.show_network()
        pan_f, exp_f, cvv_f = self.card_fields()
        pan_f.value = ""
        pan_f.mark_error(False)
        cvv_f.value = ""

    @staticmethod
    def masked_of(card: CardData | None) -> MaskedCard | None:
        return card.masked if card else None


def expiry_complete(value: str) -> bool:
    """MMAA or MM/AA typed in full."""
    return sum(ch.isdigit() for ch in value) >= 4


def field_map(screen: Widget, names: Iterable[tuple[str, str]]) -> dict[str, EntryField]:
    return {name: screen.query_one(f"#{wid}", EntryField) for name, wid in names}
