"""Every operator-facing French text of the engine and the domain has its English entry.

The engine and the domain write their messages in French; d400tui/i18n/engine_text.py shows them in
English under D400_LANG=en by matching them against the [engine] templates of fr.toml. A French
message added to d400tui/engine or d400tui/domain without its entry in fr.toml and en.toml fails here."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from d400tui.i18n import catalogue, set_lang
from d400tui.i18n.engine_text import NESTED, english, fields, labels, tx

ROOT = Path(__file__).resolve().parents[2] / "d400tui"
SOURCES = sorted([*(ROOT / "engine").glob("*.py"), *(ROOT / "domain").glob("*.py")])

# Texts of engine/ and domain/ that are no operator message in French, and why.
NOT_MESSAGES = {
    "Declined (code {})": "the English label of an unknown code, beside its French twin",
    "?autorisation {} (commande {}) : {}": "'?' marks a reconcile line still unknown; the text after it has its entry",
    "reference data missing: run d400 db upgrade first": "set-up error, English for whoever installs",
    "client injoignable": "demo data: a cancellation reason as an operator types it",
    "CardData({}, exp={})": "repr, for logs and debuggers",
    "float is not money": "MoneyError: a programming error, English in both languages",
    "not an amount": "MoneyError, English in both languages",
    "not an amount: {}": "MoneyError, English in both languages",
    "amount too large": "MoneyError, English in both languages",
    "at least one part": "MoneyError, English in both languages",
}
# Entries whose text no single literal of the source holds: the engine composes them.
COMPOSED = {"engine.reconcile_state_void": "reconcile line + ', ' + the void's message (service._reconcile_one)"}

LOG_METHODS = {"debug", "info", "warning", "error", "exception", "critical"}
FIELD = re.compile(r"\{\w+\}")


def canonical(template: str) -> str:
    return FIELD.sub("{}", template)


def _text(node: ast.AST) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(v.value if isinstance(v, ast.Constant) else "{}" for v in node.values)
    return None


def source_texts() -> dict[str, str]:
    """Canonical text ({} for each parameter) → where it is, for every string literal and f-string
    of engine/ and domain/ except docstrings, log and audit-trail arguments and format specs."""
    found: dict[str, str] = {}
    for path in SOURCES:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        skip: set[int] = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):  # docstrings
                skip.add(id(node.value))
            elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and (
                    node.func.attr in LOG_METHODS or node.func.attr == "audit"):
                skip.update(id(n) for a in node.args for n in ast.walk(a))  # logs; the audit trail stays as is
                skip.update(id(n) for k in node.keywords for n in ast.walk(k.value))
            elif isinstance(node, ast.keyword) and node.arg == "detail":  # audit rows written in bulk
                skip.update(id(n) for n in ast.walk(node.value))
            elif isinstance(node, ast.JoinedStr):
                skip.update(id(n) for v in node.values for n in ast.walk(v) if n is not node)
        for node in ast.walk(tree):
            if id(node) in skip:
                continue
            text = _text(node)
            if text is not None:
                found.setdefault(text, f"{path.relative_to(ROOT.parent)}:{getattr(node, 'lineno', 0)}")
    return found


def looks_like_words(text: str) -> bool:
    """A message, not an identifier or a format: letters, and a space or a non-ASCII letter."""
    bare = text.replace("{}", "")
    return any(c.isalpha() for c in bare) and (" " in bare or any(ord(c) > 127 and c.isalpha() for c in bare))


def engine_entries(lang: str) -> dict[str, str]:
    return {k: v for k, v in catalogue(lang).items() if k.startswith("engine.")}


def test_every_engine_and_domain_message_has_an_entry() -> None:
    known = {canonical(v) for v in engine_entries("fr").values()}
    missing = {text: where for text, where in source_texts().items()
               if looks_like_words(text) and text not in known and text not in NOT_MESSAGES}
    assert not missing, ("French messages without an [engine] entry in fr.toml and en.toml "
                         f"(or add them to NOT_MESSAGES with a reason): {missing}")


def test_every_entry_is_a_message_of_the_source() -> None:
    texts = set(source_texts())
    stale = {k: v for k, v in engine_entries("fr").items() if canonical(v) not in texts and k not in COMPOSED}
    assert not stale, f"[engine] entries that no engine or domain code writes any more: {stale}"
    assert not set(NOT_MESSAGES) - texts, "NOT_MESSAGES lists texts the source no longer has"


def test_english_entries_match_the_french_ones() -> None:
    fr, en = engine_entries("fr"), engine_entries("en")
    assert set(fr) == set(en), set(fr) ^ set(en)
    for key, french in fr.items():
        assert sorted(fields(en[key])) == sorted(fields(french)), key
        assert en[key].strip(), key
        if any(c.isalpha() for c in FIELD.sub("", french)):
            assert en[key] != french, f"{key} is not translated"
    assert len({canonical(v) for v in fr.values()}) == len(fr), "two French entries differ only by their names"


def test_every_response_code_has_an_english_label() -> None:
    import csv

    from d400tui.data import data_path

    with open(data_path("response_codes.csv"), newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert rows and all(r["label_en"].strip() and r["label_fr"].strip() for r in rows)
    assert len(labels()) == len(rows)


SAMPLES = {"order": "201", "customer": "100001", "seq": "2", "run": "7", "auth": "55", "max": "5", "size": "3",
           "amount": "12.50", "authorized": "10.00", "code": "05", "state": "APPROVED", "inst_state": "captured",
           "status": "validée", "label": "Ne pas honorer", "brand": "AMEX", "name": "OPER1"}
NESTED_SAMPLE = ("numéro de carte obligatoire", "card number required")
NESTED_ENGLISH = {"status": "validated", "label": "Do not honour"}


@pytest.mark.parametrize("key", sorted(engine_entries("fr")))
def test_each_template_is_shown_in_english_with_its_parameters(key: str) -> None:
    french, english_text = engine_entries("fr")[key], engine_entries("en")[key]
    given = {n: SAMPLES.get(n, NESTED_SAMPLE[0] if n in NESTED else "X9") for n in fields(french)}
    shown = {n: NESTED_ENGLISH.get(n, NESTED_SAMPLE[1] if n in NESTED else v) for n, v in given.items()}
    assert english(french.format(**given)) == english_text.format(**shown)


def test_translation_only_under_english_and_unknown_text_unchanged() -> None:
    from d400tui.domain.model import DomainError

    exc = DomainError("commande 12 déjà supprimée")
    try:
        set_lang("fr")
        assert tx(exc) == "commande 12 déjà supprimée"
        set_lang("en")
        assert tx(exc) == "order 12 already deleted"
        assert tx("Insufficient funds (51)") == "Insufficient funds (51)"
        assert tx("client parti") == "client parti"  # an operator's own words stay as typed
        assert tx("") == ""
        # nested messages, labels and status words are translated inside their template
        assert tx("toujours inconnu : autorisation 3 (commande 4) : prestataire injoignable : annulation reprise "
                  "par le rapprochement") == ("still unknown: authorization 3 (order 4): acquirer unreachable: "
                                              "the void will be finished by reconciliation")
        assert tx("annulation refusée (05 Ne pas honorer)") == "void refused (05 Do not honour)"
        assert tx("Carte non acceptée par le prestataire (AMEX)") == "Card not accepted by the acquirer (AMEX)"
        assert tx("compte A verrouillé : d400 operator unlock B") == "compte A verrouillé : d400 operator unlock B"
    finally:
        set_lang("fr")


def test_real_engine_and_domain_errors_in_english() -> None:
    from datetime import date

    from d400tui.domain import model as m
    from d400tui.domain.cards import CardError, card_from_entry
    from d400tui.engine.codes import lookup

    def raised(call) -> str:  # type: ignore[no-untyped-def]
        with pytest.raises((m.DomainError, CardError)) as info:
            call()
        return tx(info.value)

    try:
        set_lang("en")
        assert raised(lambda: m.Plan.parse("weekly", date(2025, 6, 2))) == (
            "plan: immediate, deferred:YYYY-MM-DD or instalments:N")
        assert raised(lambda: card_from_entry("4970100000000015", "12/30", None, date(2025, 6, 2))) == (
            "card number not valid (check digit)")
        assert raised(lambda: card_from_entry("4970100000000014", "12/30", "12", date(2025, 6, 2))) == (
            "CVV: 3 digits")
        assert raised(lambda: m.check_transition(m.AuthState.DECLINED, m.AuthState.APPROVED)) == (
            "authorization DECLINED → APPROVED not allowed")
        assert tx(lookup("XY").label_fr) == "Declined (code XY)"
        for status, word in m.STATUS_WORD.items():
            assert tx(f"commande 3 déjà {word}") == f"order 3 already {catalogue('en')[f'engine.word_{status.name}']}"
    finally:
        set_lang("fr")


def test_a_huge_text_is_shown_as_it_is_without_matching() -> None:
    """10 MB pasted in a field must not reach the template matching (quadratic: it would hang)."""
    from d400tui.i18n.engine_text import english

    huge = "article " + "x" * 5_000_000 + " inconnu"
    assert english(huge) == huge
