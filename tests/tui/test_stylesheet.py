"""Colours and layout live in d400tui/d400.tcss only: no panel or widget carries CSS of its own."""

from __future__ import annotations

import re
from pathlib import Path

import d400tui

ROOT = Path(d400tui.__file__).parent
HEX = re.compile(r"#[0-9a-fA-F]{6}\b")


def test_no_css_in_python_panels_or_widgets():
    found = []
    for path in sorted([*ROOT.glob("screens/*.py"), *ROOT.glob("widgets/*.py")]):
        text = path.read_text(encoding="utf-8")
        if "DEFAULT_CSS" in text or HEX.search(text):
            found.append(path.name)
    assert found == []


def test_every_colour_of_the_stylesheet_is_named_once():
    """A hex colour is written once, as a variable at the top; the rules use the name."""
    css = (ROOT / "d400.tcss").read_text(encoding="utf-8")
    defined = re.findall(r"^\$[\w-]+:\s*(#[0-9a-fA-F]{6});", css, flags=re.M)
    assert defined and len(HEX.findall(css)) == len(defined) == len(set(defined))
