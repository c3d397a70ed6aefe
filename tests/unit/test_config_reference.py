"""The administrator guide's configuration reference is the one generated from the settings model."""

from __future__ import annotations

from pathlib import Path

from d400tui.config import Settings
from d400tui.config_reference import END, START, meanings, render

GUIDE = Path(__file__).parents[2] / "docs" / "admin-guide.md"


def test_every_setting_is_in_the_guide():
    text = GUIDE.read_text(encoding="utf-8")
    block = text[text.index(START) : text.index(END) + len(END)]
    for name in Settings.model_fields:
        assert f"`D400_{name.upper()}`" in block, f"{name}: missing from docs/admin-guide.md"
    assert block == render(), "docs/admin-guide.md is behind: python -m d400tui.config_reference"


def test_every_setting_is_described():
    assert [name for name, text in meanings().items() if not text] == []
