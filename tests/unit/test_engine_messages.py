"""Every message key the engine and the domain raise has its entry in fr.toml and en.toml, with the
same parameters; the edge renders them in the reader's language.

Errors and results carry a key and parameters (`EngineError("engine.order_unknown", order=201)`);
the screens, the CLI and the audit reader render them (d400tui/i18n/render.py). A key raised in
d400tui/ without its entry in both catalogues, or with other parameters, fails here."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest

from d400tui.domain.message import Message
from d400tui.i18n import catalogue, set_lang
from d400tui.i18n.render import code_label, render, render_detail, tx

ROOT = Path(__file__).resolve().parents[2] / "d400tui"
SOURCES = sorted(p for p in ROOT.rglob("*.py") if "migrations" not in p.parts)
KEY = re.compile(r"engine\.[A-Za-z0-9_]+")
FIELD = re.compile(r"\{(\w+)\}")
# Calls whose first argument is a message key, and the keyword that is no parameter (the cursor).
KEYED = {
    "Message",
    "MessageError",
    "EngineError",
    "PermissionDenied",
    "SignOnError",
    "NotFound",
    "ConcurrentChange",
    "DomainError",
    "IllegalTransition",
    "CardError",
    "MoneyError",
}
NOT_PARAMS = {"field"}
# Entries the same in both languages, and why.
SAME_IN_BOTH = {
    k: "MoneyError: a programming error or a pasted absurdity, English for whoever reads it"
    for k in (
        "engine.money_float",
        "engine.money_text",
        "engine.money_not_finite",
        "engine.money_too_large",
        "engine.money_parts",
    )
}


def fields(template: str) -> list[str]:
    return sorted(set(FIELD.findall(template)))


def _name(func: ast.expr) -> str:
    return func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""


def _constants(tree: ast.Module) -> dict[str, str]:
    """Module-level NAME = "engine.x" (a key named once and raised in several places)."""
    found = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
            found.update({t.id: node.value.value for t in node.targets if isinstance(t, ast.Name)})
    return found


def raised() -> list[tuple[str, list[str] | None, str]]:
    """(key, its parameters or None when passed as **kwargs, where) for every keyed call of d400tui."""
    out = []
    for path in SOURCES:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        names = _constants(tree)
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and _name(node.func) in KEYED and node.args):
                continue
            first = node.args[0]
            key = (
                first.value
                if isinstance(first, ast.Constant) and isinstance(first.value, str)
                else names.get(first.id)
                if isinstance(first, ast.Name)
                else None
            )
            if key is None or not KEY.fullmatch(key):
                continue
            params = (
                None
                if any(k.arg is None for k in node.keywords)
                else sorted(k.arg for k in node.keywords if k.arg not in NOT_PARAMS)
            )
            out.append((key, params, f"{path.relative_to(ROOT.parent)}:{node.lineno}"))
    return out


def key_constants() -> set[str]:
    """Every string of d400tui/ that is a key (raised, kept in a table, or the prefix of f"engine.x_{...}")."""
    found = set()
    for path in SOURCES:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        parts = {id(v) for n in ast.walk(tree) if isinstance(n, ast.JoinedStr) for v in n.values}
        for node in ast.walk(tree):
            if id(node) in parts:
                continue
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and KEY.fullmatch(node.value):
                found.add(node.value)
            elif isinstance(node, ast.JoinedStr) and node.values and isinstance(node.values[0], ast.Constant):
                head = str(node.values[0].value)
                if head.startswith("engine.") and len(node.values) > 1:
                    found.add(head + "*")
    return found


def engine_entries(lang: str) -> dict[str, str]:
    return {k: v for k, v in catalogue(lang).items() if k.startswith("engine.")}


def test_every_key_raised_is_in_fr_and_en_with_its_parameters() -> None:
    fr, en = engine_entries("fr"), engine_entries("en")
    sites = raised()
    assert len(sites) > 100, "the scan finds the raise sites"
    missing = {where: key for key, _, where in sites if key not in fr or key not in en}
    assert not missing, f"keys raised without an entry in fr.toml and en.toml: {missing}"
    wrong = {
        where: (key, params, fields(fr[key]))
        for key, params, where in sites
        if params is not None and params != fields(fr[key])
    }
    assert not wrong, f"keys raised with other parameters than their entry names: {wrong}"


def test_every_key_named_in_the_source_exists() -> None:
    fr = engine_entries("fr")
    for name in key_constants():
        if name.endswith("*"):
            assert any(k.startswith(name[:-1]) for k in fr), name
        else:
            assert name in fr, f"{name} is named in d400tui/ and has no entry"


def test_every_entry_is_used() -> None:
    named = key_constants()
    prefixes = tuple(n[:-1] for n in named if n.endswith("*"))
    stale = {k: v for k, v in engine_entries("fr").items() if k not in named and not k.startswith(prefixes)}
    assert not stale, f"[engine] entries that no code raises any more: {stale}"


def test_english_entries_match_the_french_ones() -> None:
    fr, en = engine_entries("fr"), engine_entries("en")
    assert set(fr) == set(en), set(fr) ^ set(en)
    for key, french in fr.items():
        assert fields(en[key]) == fields(french), key
        assert en[key].strip(), key
        if any(c.isalpha() for c in FIELD.sub("", french)) and key not in SAME_IN_BOTH:
            assert en[key] != french, f"{key} is not translated"
    assert set(SAME_IN_BOTH) <= set(fr)


def test_every_response_code_has_its_label_in_both_languages() -> None:
    import csv

    from d400tui.data import data_path

    with open(data_path("response_codes.csv"), newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert rows and all(r["label_en"].strip() and r["label_fr"].strip() for r in rows)
    for r in rows:
        assert (code_label(r["code"], "fr"), code_label(r["code"], "en")) == (r["label_fr"], r["label_en"])
    assert code_label("XY", "en") == "Declined (code XY)"
    assert code_label("XY", "fr") == "Refus (code XY)"


SAMPLES = {
    "order": 201,
    "customer": 100001,
    "seq": 2,
    "run": 7,
    "auth": 55,
    "max": 5,
    "size": 3,
    "amount": "12.50",
    "authorized": "10.00",
    "code": "05",
    "state": "APPROVED",
    "inst_state": "captured",
    "brand": "AMEX",
    "name": "OPER1",
}
NESTED = (Message("engine.card_required"), "numéro de carte obligatoire", "card number required")


@pytest.mark.parametrize("key", sorted(engine_entries("fr")))
def test_each_entry_is_rendered_in_both_languages_with_its_parameters(key: str) -> None:
    """Parameters are values or messages (rendered in the same language)."""
    params = {n: SAMPLES.get(n, NESTED[0]) for n in fields(engine_entries("fr")[key])}
    for lang, nested in (("fr", NESTED[1]), ("en", NESTED[2])):
        shown = {n: nested if isinstance(v, Message) else v for n, v in params.items()}
        assert render(Message(key, **params), lang) == engine_entries(lang)[key].format(**shown)


def test_tx_renders_keys_in_the_readers_language_and_leaves_plain_text() -> None:
    from d400tui.domain.model import STATUS_MESSAGE, DomainError, OrderStatus

    exc = DomainError("engine.already_deleted", order=12)
    try:
        set_lang("fr")
        assert tx(exc) == str(exc) == "commande 12 déjà supprimée"
        set_lang("en")
        assert tx(exc) == "order 12 already deleted"
        assert str(exc) == "commande 12 déjà supprimée", "str() stays the reference text, for logs"
        assert tx("Insufficient funds (51)") == "Insufficient funds (51)"
        assert tx("client parti") == "client parti"  # an operator's own words stay as typed
        assert tx("") == ""
        line = Message("engine.reconcile_error", auth=3, order=4, error=Message("engine.void_unreachable"))
        assert tx(Message("engine.still_unknown", line=line)) == (
            "still unknown: authorization 3 (order 4): acquirer unreachable: "
            "the void will be finished by reconciliation"
        )
        assert tx(Message("engine.void_refused", code="05", detail=Message("engine.declined_code", code="05"))) == (
            "void refused (05 Declined (code 05))"
        )
        assert tx(DomainError("engine.already", order=3, status=STATUS_MESSAGE[OrderStatus.INVOICED])) == (
            "order 3 already invoiced"
        )
        assert tx(Message("compte A verrouillé : d400 operator unlock B")) == (
            "compte A verrouillé : d400 operator unlock B"
        )  # free text in a Message: as it is
        assert tx("Ne pas honorer") == "Do not honour"  # a response-code label, from its code
    finally:
        set_lang("fr")


def test_real_engine_and_domain_errors_in_english() -> None:
    from datetime import date

    from d400tui.domain import model as m
    from d400tui.domain.cards import CardError, card_from_entry
    from d400tui.domain.money import MoneyError, money

    def shown(call) -> str:  # type: ignore[no-untyped-def]
        with pytest.raises((m.DomainError, CardError, MoneyError)) as info:
            call()
        return tx(info.value)

    try:
        set_lang("en")
        assert shown(lambda: m.Plan.parse("weekly", date(2025, 6, 2))) == (
            "plan: immediate, deferred:YYYY-MM-DD or instalments:N"
        )
        assert shown(lambda: card_from_entry("4970100000000015", "12/30", None, date(2025, 6, 2))) == (
            "card number not valid (check digit)"
        )
        assert shown(lambda: card_from_entry("4970100000000014", "12/30", "12", date(2025, 6, 2))) == ("CVV: 3 digits")
        assert shown(lambda: m.check_transition(m.AuthState.DECLINED, m.AuthState.APPROVED)) == (
            "authorization DECLINED → APPROVED not allowed"
        )
        assert shown(lambda: money("abc")) == "not an amount: 'abc'"
        for status, msg in m.STATUS_MESSAGE.items():
            assert tx(Message("engine.already", order=3, status=msg)) == (
                f"order 3 already {catalogue('en')[f'engine.word_{status.name}']}"
            )
        set_lang("fr")
        assert shown(lambda: money("abc")) == "not an amount: 'abc'"
        assert shown(lambda: card_from_entry("4970100000000014", "12/30", "12", date(2025, 6, 2))) == (
            "cryptogramme : 3 chiffres"
        )
    finally:
        set_lang("fr")


def test_the_cursor_field_is_no_parameter() -> None:
    from d400tui.domain.cards import CardError
    from d400tui.engine.errors import EngineError

    exc = EngineError("engine.operator_unknown", field="operator", name="GHOST")
    assert (exc.field, exc.key, dict(exc.params)) == ("operator", "engine.operator_unknown", {"name": "GHOST"})
    assert CardError("engine.pan_check").field == "card", "a card error puts the cursor on the card by default"


def test_a_huge_text_is_shown_as_it_is() -> None:
    """10 MB pasted in a field comes back as it is, at once (no matching of free text)."""
    huge = "article " + "x" * 5_000_000 + " inconnu"
    assert tx(huge) == huge


def test_audit_detail_keeps_key_and_parameters_and_reads_in_each_language() -> None:
    from d400tui.domain.message import json_default

    reason = Message("engine.capture_state", state="VOIDED")
    stored = json.dumps({"authorization": 5, "reason": reason}, default=json_default, ensure_ascii=False)
    assert json.loads(stored)["reason"] == {"key": "engine.capture_state", "params": {"state": "VOIDED"}}
    assert render_detail(stored, "fr") == '{"authorization": 5, "reason": "capture impossible : autorisation VOIDED"}'
    assert render_detail(stored, "en") == '{"authorization": 5, "reason": "capture impossible: authorization VOIDED"}'
    old = '{"authorization": 5, "reason": "capture impossible : autorisation VOIDED"}'
    assert render_detail(old, "en") == old, "records written before keys are shown as stored"
    typed = '{"reason": {"key": "x"}, "voids": 0}'
    assert render_detail(typed, "en") == typed
    assert render_detail('not json {"key"', "en") == 'not json {"key"'
