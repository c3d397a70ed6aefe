"""Browser-safe second keys (Alt+digit for F1…F10) and the clickable function-key legend."""

from __future__ import annotations

from d400tui.engine.views import OrderFilter
from d400tui.i18n import t
from d400tui.softkeys import soft_key_at
from tests.support.tui import fill, message, sign_on

from .test_flows import SIZE, open_entry, screen_name, wait_idle


def test_soft_key_at_spans_key_and_label():
    line = "Entrée=Contrôler F3=Quitter F4=Invite F5=Réafficher F10=Valider F12=Annuler"
    assert soft_key_at(line, 0) == "enter"
    assert soft_key_at(line, line.index("F3")) == "f3"
    assert soft_key_at(line, line.index("Quitter") + 3) == "f3"
    assert soft_key_at(line, line.index("F10") + 5) == "f10"
    assert soft_key_at(line, line.index(" F4")) is None  # the blank between two soft keys
    assert soft_key_at("Entrée/F10=Confirmer  F12=Annuler", 3) == "enter"
    assert soft_key_at("1=Choisir, Entrée  PgAR/PgAV=Page", 2) is None


async def test_order_taken_with_second_keys(make_app, engine):
    """Alt+0 validates as F10 would, Alt+3 leaves as F3 would: the approved order is in the database."""
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await open_entry(pilot)
        for field, text in (
            ("customer", "100001"),
            ("art-0", "BON0001"),
            ("qty-0", "1"),
            ("card", "4970100000000014"),
            ("expiry", "12/30"),
            ("cvv", "123"),
        ):
            await fill(pilot, field, text)
        await pilot.press("alt+0")
        await wait_idle(pilot)
        assert "validée — autorisation" in message(pilot)
        await pilot.press("alt+3")
        await pilot.pause()
        assert screen_name(pilot) == "MenuScreen"
    rows = engine.list_orders(OrderFilter())
    assert [r.status for r in rows] == ["VALIDATED"]


async def test_second_key_keeps_its_place_among_typed_keys(make_app):
    """Alt+3 typed between two keys acts between them: "2" opens the list, Alt+3 leaves it, "1" lands
    in the menu's option field (not in the list's first option field)."""
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await sign_on(pilot)
        await pilot.press("2", "enter", "alt+3", "1")
        await pilot.pause()
        assert screen_name(pilot) == "MenuScreen"
        assert app.screen.query_one("#option").value == "1"


async def test_legend_click_presses_the_key(make_app):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await sign_on(pilot)
        await pilot.press("2", "enter")
        await pilot.pause()
        assert screen_name(pilot) == "WorkOrdersScreen"
        legend = t("legend.work")
        await pilot.click("#fkeys", offset=(legend.index("  F5") + 1, 0))  # a blank: nothing pressed
        await pilot.pause()
        assert screen_name(pilot) == "WorkOrdersScreen"
        await pilot.click("#fkeys", offset=(legend.index("F3=") + 4, 0))  # on "Quitter"
        await pilot.pause()
        assert screen_name(pilot) == "MenuScreen"
        await pilot.click("#fkeys", offset=(t("legend.menu").index("F3="), 0))  # F3 in the menu: sign off
        await pilot.pause()
        assert screen_name(pilot) == "SignOnScreen"


async def test_browser_alt_digit_as_textual_reads_it(make_app, monkeypatch):
    """In a browser tab xterm.js sends Alt+3 as ESC 3, which Textual's parser reads as "£": under
    textual-serve's driver that is F3; in any other terminal it stays a character typed in the field."""
    from textual._xterm_parser import XTermParser

    async def alt_3_then_1(pilot) -> None:
        for text in ("\x1b3", "1"):
            for event in XTermParser().feed(text):  # as the driver posts them
                pilot.app.post_message(event)
            await pilot.pause()

    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await sign_on(pilot)
        await pilot.press("2", "enter")
        await alt_3_then_1(pilot)
        assert screen_name(pilot) == "WorkOrdersScreen"
        await pilot.press("f3")
        await pilot.pause()
        monkeypatch.setenv("TEXTUAL_DRIVER", "textual.drivers.web_driver:WebDriver")
        await pilot.press("2", "enter")
        await alt_3_then_1(pilot)
        assert screen_name(pilot) == "MenuScreen"
        assert app.screen.query_one("#option").value == "1"


def _panels_with_legend():
    """Every panel class whose legend line is its LEGEND_KEY (the base classes and the results list,
    whose legend is its own, left out)."""
    import importlib
    import inspect
    import pkgutil

    from textual.screen import Screen

    import d400tui.screens as package

    for info in pkgutil.iter_modules(package.__path__):
        module = importlib.import_module(f"{package.__name__}.{info.name}")
        for cls in vars(module).values():
            if (
                inspect.isclass(cls)
                and issubclass(cls, Screen)
                and cls.__module__ == module.__name__
                and "LEGEND_KEY" in vars(cls)
            ):
                yield cls


def test_every_key_of_a_legend_is_bound_on_its_panel():
    """The legend is clickable and Alt+digit stands for its keys: each Fn it names has a binding on the
    panel (from screens.keys), so neither a click nor a second key lands on "key not allowed here"."""
    from d400tui.softkeys import soft_key_at

    checked = 0
    for cls in _panels_with_legend():
        legend = t(cls.LEGEND_KEY)
        bound = set(cls._merge_bindings().key_to_bindings)
        for x, _ in enumerate(legend):
            key = soft_key_at(legend, x)
            if key is not None and key != "enter":
                assert key in bound, f"{cls.__name__}: {key} in its legend, not bound"
                checked += 1
    assert checked > 30  # the panels were found and their legends read
