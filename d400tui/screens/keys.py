"""The panels' keys, written once. A panel names the keys it takes — `keys("prompt", "refresh",
f10="validate")` — and gets Textual bindings with the same ids, tooltips and twins everywhere: F5
always with Ctrl+R and F12 with Escape (a browser keeps F5 and F12 for itself). Alt+1 … Alt+0 stand
for F1 … F10 without a binding of their own: `softkeys` renames them where the app receives them.

A panel lists only what it adds to its base class (D400Screen: F1, F3, F12; D400Modal: F1, F12):
Textual merges the BINDINGS of a class with those of its bases, a key bound again replacing the
base's binding for that key. Nothing is shown in a footer: each panel's legend line says its keys."""

from __future__ import annotations

from textual.binding import Binding, BindingType

from d400tui.i18n import t

# name → (key, action, binding id, catalogue key of its description, or "" for none)
KEYS: dict[str, tuple[tuple[str, str, str, str], ...]] = {
    "help": (("f1", "field_help", "d400.help", "key.f1"),),
    "exit": (("f3", "exit", "d400.exit", "key.f3"),),
    "prompt": (("f4", "prompt", "d400.prompt", "key.f4"),),
    "refresh": (("f5", "refresh", "d400.refresh", "key.f5"), ("ctrl+r", "refresh", "d400.refresh.ctrl", "key.f5")),
    "create": (("f6", "create", "d400.create", "key.f6"),),
    # network branch (issue 13): the other network of a co-badged card, on the customer's request
    "network": (("f8", "network", "d400.network", "key.f8"),),
    "cancel": (("f12", "back", "d400.cancel", "key.f12"), ("escape", "back", "d400.cancel.esc", "key.f12")),
    # the arrows move between fields, as on a 5250 (lists keep theirs: they do not take these)
    "arrows": (("down", "field_down", "d400.down", "key.down"), ("up", "field_up", "d400.up", "key.up")),
    "pages": (("pagedown", "page_down", "d400.page_down", ""), ("pageup", "page_up", "d400.page_up", "")),
}


def _binding(key: str, action: str, bid: str, tip: str, priority: bool) -> Binding:
    text = t(tip) if tip else ""
    return Binding(key, action, text, show=False, id=bid, tooltip=text, priority=priority)


def keys(*names: str, f10: str | None = None, enter: str | None = None, pages_first: bool = True) -> list[BindingType]:
    """The bindings of the keys `names` (from KEYS); `f10`/`enter`: the action F10/Enter runs on this
    panel (validate, run, export, confirm). `pages_first`: PageUp/PageDown page the list before the
    focused field sees them (lists); False where a scrolling widget may take them first."""
    out: list[BindingType] = [
        _binding(*row, priority=name == "pages" and pages_first) for name in names for row in KEYS[name]
    ]
    if f10 is not None:
        out.append(_binding("f10", f10, "d400.validate", "key.f10", False))
    if enter is not None:
        out.append(_binding("enter", enter, "d400.enter", "key.f10", False))
    return out
