"""Operator-facing strings: one TOML catalogue per language (fr.toml, en.toml), flat dotted keys."""

from __future__ import annotations

import tomllib
from functools import cache
from pathlib import Path

_HERE = Path(__file__).parent
_lang = "fr"


@cache
def catalogue(lang: str) -> dict[str, str]:
    with open(_HERE / f"{lang}.toml", "rb") as f:
        raw = tomllib.load(f)
    flat: dict[str, str] = {}

    def walk(prefix: str, node: dict) -> None:  # type: ignore[type-arg]
        for k, v in node.items():
            key = f"{prefix}.{k}" if prefix else k
            if isinstance(v, dict):
                walk(key, v)
            else:
                flat[key] = str(v)

    walk("", raw)
    return flat


def set_lang(lang: str) -> None:
    global _lang
    _lang = lang if lang in ("fr", "en") else "fr"


def get_lang() -> str:
    return _lang


def t(key: str, **kw: object) -> str:
    """The string for `key` in the current language (French when missing), formatted with `kw`."""
    text = catalogue(_lang).get(key) or catalogue("fr").get(key) or key
    return text.format(**kw) if kw else text
