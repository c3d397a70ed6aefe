"""SHIP — "Expédier": a parcel of an order's lines. Each line shows what was ordered, what has
shipped and what is left, and takes the quantity shipped now; "Dernière expédition" (O/N) says
nothing more will ship, so the capture of this parcel releases the rest of the authorization (the
parcel that ships every line left is the last one anyway). Enter or F10 ships, F12 returns."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Input, Static

from d400tui.i18n import t
from d400tui.widgets import EntryField, FKeyLegend, MessageLine

from .base import D400Modal
from .fmt import amount
from .keys import keys

if TYPE_CHECKING:
    from d400tui.domain import model as m
    from d400tui.engine.shipping import ShippingView

MAX_ROWS = 12


class ShipmentScreen(D400Modal):
    """Dismisses with ([(article, quantity), …], final), or None (F12)."""

    SCREEN_ID = "SHIP"
    LEGEND_KEY = "legend.ship"
    BINDINGS = keys(f10="ship", enter="ship")

    def __init__(self, order: m.Order, view: ShippingView) -> None:
        super().__init__()
        self.order = order
        self.view = view
        self.rows = [
            (getattr(ln, "line_no", i + 1), ln) for i, ln in enumerate(order.lines) if i < MAX_ROWS
        ]  # what fits a 24-line panel: a longer order ships the rest from `d400 order ship`

    def compose(self) -> ComposeResult:
        o, v = self.order, self.view
        with Vertical(id="panel"):
            yield Static(t("ship.title", order=o.id), classes="strong", markup=False)
            yield Static(
                t("ship.summary", total=amount(o.total), shipped=amount(v.state.shipped), parcels=v.state.parcels),
                markup=False,
            )
            yield Static(t("ship.heading"), classes="label", markup=False)
            for line_no, ln in self.rows:
                left = v.left.get(line_no, 0)
                shipped = ln.quantity - left
                with Horizontal(classes="row"):
                    yield Static(
                        f"{ln.article_code:<8} {ln.label[:26]:<26} {ln.quantity:>5} {shipped:>5} {left:>5}  ",
                        markup=False,
                    )
                    qty = EntryField(width=4, id=f"qty-{line_no}")
                    qty.disabled = left == 0  # nothing left to ship on this line
                    yield qty
            with Horizontal(classes="row"):
                yield Static(t("ship.final"), classes="lbl", markup=False)
                yield EntryField("N", width=1, upper=True, id="final", replace=True)
            yield MessageLine()
            yield FKeyLegend(t(self.LEGEND_KEY))

    def on_mount(self) -> None:
        fields = [f for f in self.query(EntryField) if not f.disabled]
        if fields:
            fields[0].focus()

    @on(Input.Submitted)
    def _enter(self) -> None:
        self.action_ship()

    def action_ship(self) -> None:
        """The quantities typed (blank = none), checked against what is left; the engine checks again."""
        self.clear_errors()
        lines: list[tuple[str, int]] = []
        for line_no, ln in self.rows:
            f = self.query_one(f"#qty-{line_no}", EntryField)
            text = f.text.strip()
            if not text:
                continue
            if not (text.isascii() and text.isdigit()) or int(text) < 1:
                self.field_error(f, t("ship.qty_invalid"))
                return
            left = self.view.left.get(line_no, 0)
            if int(text) > left:
                self.field_error(f, t("ship.qty_over", article=ln.article_code, qty=int(text), left=left))
                return
            lines.append((ln.article_code, int(text)))
        final_f = self.query_one("#final", EntryField)
        if final_f.text not in ("O", "N", "Y", ""):
            self.field_error(final_f, t("ship.final_invalid"))
            return
        final = final_f.text in ("O", "Y")
        if not lines and not final:
            self.message(t("ship.nothing"), error=True)
            return
        self.dismiss((lines, final))
