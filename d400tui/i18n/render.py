"""The edge renderer: what the engine and the domain said (a key and parameters) in the reader's
language, from fr.toml/en.toml.

Screens and the CLI pass what they show through `tx`: an error or a result carrying a `Message` is
rendered (its parameters too when they are messages); a response-code label is rendered from its
code (data/response_codes.csv); plain text (an operator's words, an acquirer's own decline text)
is shown as it is. The audit trail keeps messages as {"key", "params"} inside its JSON detail:
`render_detail` shows them in the reader's language and leaves older free-text records as stored."""

from __future__ import annotations

import json
from datetime import datetime
from functools import cache
from typing import Any

from d400tui.domain.message import Message, is_message_data, set_renderer

from . import catalogue, get_lang, t


class _Keep(dict[str, Any]):
    """A parameter the template names and the message lacks shows as {name}, not as a crash."""

    def __missing__(self, name: str) -> str:
        return "{" + name + "}"


@cache
def _codes() -> dict[str, dict[str, str]]:
    from d400tui.data.codes import response_codes

    return {c: {"fr": r.label_fr, "en": r.label_en} for c, r in response_codes().items()}


@cache
def _advice() -> dict[str, dict[str, str]]:
    from d400tui.data.codes import response_codes

    return {c: {"fr": r.advice_fr, "en": r.advice_en} for c, r in response_codes().items()}


@cache
def _french_labels() -> dict[str, str]:
    return {v["fr"]: code for code, v in _codes().items()}


def code_label(code: str, lang: str | None = None) -> str:
    """The label of an acquirer response code in `lang` (unknown codes: "declined (code X)")."""
    lang = lang or get_lang()
    known = _codes().get(code)
    if known:
        return known[lang] if known.get(lang) else known["fr"]
    return render(Message("engine.declined_code", code=code), lang)


def code_advice(code: str, lang: str | None = None) -> str:
    """What the operator should do after response `code` (data/response_codes.csv), in `lang`."""
    lang = lang or get_lang()
    known = _advice().get(code)
    if known and known.get(lang):
        return known[lang]
    return render(Message("engine.advice_unknown", code=code), lang)


def render(msg: Message, lang: str | None = None) -> str:
    lang = lang or get_lang()
    if msg.is_text:
        return msg.key
    template = catalogue(lang).get(msg.key) or catalogue("fr").get(msg.key)
    if template is None:
        return msg.key
    params = _Keep({k: _param(v, lang) for k, v in msg.params.items()})
    return template.format_map(params)


def _param(value: Any, lang: str) -> Any:
    if isinstance(value, Message):
        return render(value, lang)
    if isinstance(value, str):
        return _text(value, lang)
    return value


def _text(text: str, lang: str) -> str:
    """Text as it is, unless it is a response-code label: then the label of that code in `lang`."""
    code = _french_labels().get(text)
    return text if code is None else code_label(code, lang)


def tx(shown: object) -> str:
    """What the engine or the domain said (an error, a Message, a label, a text), in the reader's
    language."""
    if isinstance(shown, Message):
        return render(shown)
    msg = getattr(shown, "message", None)
    if isinstance(msg, Message):
        return render(msg)
    return _text(str(shown), get_lang())


def render_detail(detail: str, lang: str | None = None) -> str:
    """An audit record's JSON detail with its messages in the reader's language. Records without a
    message (all those written before messages had keys) are shown byte for byte as stored."""
    if '"key"' not in detail:
        return detail
    try:
        data = json.loads(detail)
    except ValueError:
        return detail
    if not isinstance(data, dict) or not any(is_message_data(v) for v in data.values()):
        return detail
    shown = {k: render(Message.from_data(v), lang) if is_message_data(v) else v for k, v in data.items()}
    return json.dumps(shown, ensure_ascii=False)


set_renderer(lambda msg: render(msg, "fr"))


# -- validity branch: expiry in sight (work with orders, `d400 order list`) ---------------------------
def expiry_words(until: datetime | None, now: datetime, wide: bool = True) -> str:
    """How long a live authorization still holds: "expire dans 2 j" (wide) or "2 j"; "" for none."""
    from d400tui.domain.validity import time_left

    if until is None:
        return ""
    n, unit = time_left(until, now)
    if unit == "gone":
        return t("work.expired") if wide else t("work.expired_short")
    left = t(f"work.left_{unit}", n=n)
    return t("work.expires_in", left=left) if wide else left


def age_words(since: datetime | None, now: datetime) -> str:
    """How long ago, in its largest whole unit: "3 j", "5 h", "12 min" ("" when unknown)."""
    if since is None:
        return ""
    secs = max(0, int((now - since).total_seconds()))
    if secs >= 86400:
        return t("voids.age_d", n=secs // 86400)
    if secs >= 3600:
        return t("voids.age_h", n=secs // 3600)
    return t("voids.age_m", n=secs // 60)
