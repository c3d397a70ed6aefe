"""Engine and domain messages in the operator's language, translated where they are shown.

The engine writes its messages in French (they are the reference, and what the audit trail keeps).
Screens and the CLI pass what they show through `tx`: under D400_LANG=en a message that matches
an [engine] template of fr.toml is shown as the same key of en.toml, its parameters carried over
(and themselves translated when they are messages, labels or status words); a response-code label
is shown with the English column of data/response_codes.csv; anything else is shown unchanged."""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from functools import cache

from . import catalogue

_FIELD = re.compile(r"\{(\w+)\}")

# What a parameter may look like, by its name in the templates (anything else: any text).
_DIGITS = r"\d+"
_AMOUNT = r"-?\d+(?:[.,]\d+)?"
PATTERNS: dict[str, str] = {
    "order": _DIGITS, "customer": _DIGITS, "seq": _DIGITS, "run": _DIGITS, "auth": _DIGITS, "max": _DIGITS,
    "size": _DIGITS, "amount": _AMOUNT, "authorized": _AMOUNT, "code": r"\S*", "state": r"[A-Z_]+",
    "inst_state": r"[a-z_]+",
}
# Parameters that are themselves engine texts (a message inside a message, a label, a status word).
NESTED = frozenset({"what", "error", "message", "detail", "line", "label", "status"})
_DEPTH = 4
# Engine messages are one line; a longer text is shown as it is rather than matched (a template
# with two open parameters costs the square of the length: 10 MB pasted in a field would hang).
_LONGEST = 1000


@dataclass(frozen=True)
class Template:
    key: str
    french: str
    english: str
    regex: re.Pattern[str]
    literal: int  # characters outside the parameters: the most specific template is tried first


def fields(template: str) -> list[str]:
    return _FIELD.findall(template)


@cache
def labels() -> dict[str, str]:
    """French label → English label, from data/response_codes.csv (read once, without the engine)."""
    from d400tui.data import data_path

    with open(data_path("response_codes.csv"), newline="", encoding="utf-8") as f:
        return {r["label_fr"]: r["label_en"] for r in csv.DictReader(f) if r["label_fr"] and r["label_en"]}


def _alternatives(words: list[str]) -> str:
    return "(?:" + "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True)) + ")"


@cache
def _patterns() -> dict[str, str]:
    from d400tui.domain.model import STATUS_WORD

    return {**PATTERNS, "status": _alternatives(list(STATUS_WORD.values())), "label": _alternatives(list(labels()))}


def _compile(french: str) -> re.Pattern[str]:
    pats, out, seen, pos = _patterns(), [], set(), 0
    for m in _FIELD.finditer(french):
        out.append(re.escape(french[pos:m.start()]))
        name = m.group(1)
        out.append(f"(?P={name})" if name in seen else f"(?P<{name}>{pats.get(name, '.+?')})")
        seen.add(name)
        pos = m.end()
    out.append(re.escape(french[pos:]))
    return re.compile("".join(out), re.DOTALL)


@cache
def templates() -> tuple[dict[str, str], tuple[Template, ...]]:
    """(exact French texts → English, templates with parameters from the most specific)."""
    fr, en = catalogue("fr"), catalogue("en")
    exact: dict[str, str] = dict(labels())
    found: list[Template] = []
    for key, french in fr.items():
        if not key.startswith("engine.") or key not in en:
            continue
        if not fields(french):
            exact[french] = en[key]
            continue
        literal = len(_FIELD.sub("", french))
        found.append(Template(key, french, en[key], _compile(french), literal))
    found.sort(key=lambda tpl: -tpl.literal)
    return exact, tuple(found)


def english(text: str, depth: int = 0) -> str:
    """`text` in English when it is a known engine message, else unchanged."""
    exact, found = templates()
    if text in exact:
        return exact[text]
    if depth >= _DEPTH or not text or len(text) > _LONGEST:
        return text
    for tpl in found:
        m = tpl.regex.fullmatch(text)
        if m is None:
            continue
        params = {k: english(v, depth + 1) if k in NESTED else v for k, v in m.groupdict().items()}
        return tpl.english.format(**params)
    return text
