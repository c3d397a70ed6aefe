"""Issue 9, point 3: one definition of "a card number" for the card field and the scrubber.

Every number the card field accepts — any separators between any digits, digits of any script —
embedded in any text, raw or JSON-encoded (the form free text takes in the audit trail and the
drafts), comes out of `scrub` with its middle digits hidden. On the code before this change the
scrubber knew only spaces and ASCII dashes: a tab, a NBSP, a dot or a slash let the number through."""

from __future__ import annotations

import json
import unicodedata

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from d400tui.domain.cards import (
    MAX_ENTRY,
    PAN_MAX,
    PAN_MIN,
    SEPARATORS,
    CardError,
    ascii_digits,
    clean_pan,
    is_digit,
    scrub,
)

SEPS = sorted(SEPARATORS)
ZEROS = [0x30, 0xFF10, 0x660, 0x6F0, 0x966, 0x1D7CE]  # ASCII, full-width, Arabic-Indic, Persian, Devanagari, bold
SUPERSCRIPTS = "⁰¹²³⁴⁵⁶⁷⁸⁹"
CIRCLED = "⓪①②③④⑤⑥⑦⑧⑨"


def as_digits(text: str) -> str:
    """The digits a reader sees in `text`, as ASCII."""
    return ascii_digits("".join(c for c in text if is_digit(c)))


def luhn_complete(body: str) -> str:
    total = 0
    for i, ch in enumerate(reversed(body)):
        d = int(ch)
        if i % 2 == 0:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return body + str((10 - total % 10) % 10)


numbers = st.integers(PAN_MIN, PAN_MAX).flatmap(
    lambda n: st.text("0123456789", min_size=n - 1, max_size=n - 1).map(luhn_complete)
)


@st.composite
def typed_forms(draw: st.DrawFn) -> tuple[str, str]:
    """(number, a way of typing it the card field accepts)."""
    pan = draw(numbers)
    parts = []
    for ch in pan:
        script = draw(st.sampled_from([*ZEROS, SUPERSCRIPTS, CIRCLED])) if draw(st.booleans()) else 0x30
        digit = script[int(ch)] if isinstance(script, str) else chr(script + int(ch))
        parts.append(draw(st.text(st.sampled_from(SEPS), max_size=2)) + digit)
    typed = "".join(parts) + draw(st.text(st.sampled_from(SEPS), max_size=2))
    return pan, typed[:MAX_ENTRY] if len(typed) > MAX_ENTRY else typed


surrounding = st.text(st.characters(blacklist_categories=("Cs",)), max_size=30)


def hidden_middle(out: str, start: int, typed: str) -> bool:
    digits = [i for i, ch in enumerate(typed) if is_digit(ch)]
    return all(out[start + i] == "*" for i in digits[6:-4])


@settings(max_examples=400)
@given(typed_forms(), surrounding, surrounding)
@example(("4970100000000014", "4970\t1000\t0000\t0014"), "motif : ", " merci")
@example(("4970100000000014", "4970\u00a01000\u202f0000\u20090014"), "", "")
@example(("4970100000000014", "4970.1000/0000_0014"), "carte ", ".")
@example(("4970100000000014", "4970–1000—0000\u20110014"), "", "")
def test_every_number_the_field_accepts_is_scrubbed_in_any_text(form, before: str, after: str) -> None:  # type: ignore[no-untyped-def]
    pan, typed = form
    try:
        accepted = clean_pan(typed)
    except CardError:  # cut at the field's length: not an entry the field takes
        return
    assert accepted == pan
    text = before + typed + after
    out = scrub(text)
    assert len(out) == len(text)
    assert hidden_middle(out, len(before), typed), (text, out)
    assert pan not in as_digits(out)


@settings(max_examples=200)
@given(typed_forms(), surrounding, st.booleans())
def test_json_encoded_free_text_is_scrubbed(form, before: str, ascii_only: bool) -> None:  # type: ignore[no-untyped-def]
    """The audit trail and the drafts store JSON: `\\t`, `\\u00a0`, `\\uff14` are a number's parts too."""
    pan, typed = form
    try:
        clean_pan(typed)
    except CardError:
        return
    encoded = json.dumps({"reason": before + typed}, ensure_ascii=ascii_only)
    decoded = json.loads(scrub(encoded))["reason"]  # still valid JSON
    assert pan not in as_digits(decoded), (encoded, decoded)
    twice = json.loads(json.loads(scrub(json.dumps(encoded))))["reason"]  # JSON inside JSON
    assert pan not in as_digits(twice)


def test_escaped_hex_digits_do_not_hide_a_number() -> None:
    """`\\u4970100000000014` read as an escape leaves 12 digits; the raw view still sees 16."""
    assert "4970100000000014" not in scrub("\\u4970100000000014")
    assert "3000" + "1234567890" not in scrub("\\u3000" + "1234567890")  # noqa: ISC003 - hex digits, card digits


def test_what_is_not_a_card_number_stays() -> None:
    text = "commande 201 du 2026-12-01, 143,98 €, tél. 06 12 34 56 78, ref 1234567890123"
    assert scrub(text) == text
    assert scrub("a\\tb\\u00e9\\\\") == "a\\tb\\u00e9\\\\"


def test_very_long_digit_runs_are_hidden_whole() -> None:
    assert set(scrub("4" * 600)) == {"*"}
    assert set(scrub("4 " * 600).split()) == {"*"}  # one-digit groups joined by separators too


def test_the_field_and_the_scrubber_use_the_same_separators() -> None:
    """Every Unicode space, dash, connector and invisible format character separates; every
    character read as one digit (NFKC) is a digit to both."""
    for cp in range(0x10000):
        ch = chr(cp)
        nfkc = unicodedata.normalize("NFKC", ch)
        if len(nfkc) == 1 and nfkc.isdecimal() or ch.isdecimal():
            assert is_digit(ch) and len(ascii_digits(ch)) == 1 and ascii_digits(ch).isascii(), hex(cp)
            if ascii_digits(ch) == "0":  # thirteen zeros pass Luhn: a card number to both
                assert clean_pan(ch * 13) == "0" * 13 and ch * 7 not in scrub(ch * 13), hex(cp)
        if unicodedata.category(ch) in ("Zs", "Zl", "Zp", "Pd", "Pc", "Cf") or ch.isspace():
            assert ch in SEPARATORS, hex(cp)
            assert clean_pan(f"4970{ch}1000{ch}0000{ch}0014") == "4970100000000014", hex(cp)
            assert "4970100000000014" not in scrub(f"x4970{ch}1000{ch}0000{ch}0014x").replace(ch, "")


# -- the store boundary: every free-text column scrubs what is written, whoever writes it -------
FORMS = [
    "4970\t1000\t0000\t0014",
    "4970\u00a01000\u202f0000\u00a00014",
    "4970.1000.0000.0014",
    "4970/1000/0000/0014",
    "4970_1000_0000_0014",
    "4970–1000—0000-0014",
    "４９７０１０００００００００１４",
]
NOT_FREE_TEXT = {  # String columns that hold codes, identifiers or references, never typed prose
    "customers.postcode",
    "articles.code",
    "orders.plan",
    "orders.card_token",
    "orders.card_brand",
    "orders.card_first6",
    "orders.card_last4",
    "orders.card_expiry",
    "orders.created_by",
    "order_lines.article_code",
    "authorizations.idempotency_key",
    "authorizations.acquirer",
    "authorizations.card_first6",
    "authorizations.card_last4",
    "authorizations.card_expiry",
    "authorizations.response_code",
    "authorizations.auth_code",
    "authorizations.acquirer_ref",
    "authorizations.operator",
    "authorizations.owner",
    "decisions.operator",
    "decisions.shown_category",
    "decisions.shown_code",
    "operators.name",
    "operators.password_hash",
    "precheck_runs.kind",
    "precheck_runs.operator",
    "run_results.outcome",
    "run_results.code",
    "run_results.category",
    "audit.action",
    "audit.prev_hash",
    "audit.hash",
    "audit_head.hash",
    "order_drafts.operator",
    # per-day supervision totals: copies of the codes above, counted
    "stats_day_decisions.operator",
    "stats_day_decisions.kind",
    "stats_day_outcomes.category",
    "stats_day_outcomes.response_code",
    # validity (0011) is Enum-typed; plans (0008): the run an instalment belongs to, set by triggers
    "instalments.run_scope",
    # network (0014): a network name (CB, VISA…) and the issuer's CVV check word, never the CVV
    "orders.card_network",
    "authorizations.network",
    "authorizations.security_check",
    # issuer (0016): the acquirer that issued the order's token, a name from the settings
    "orders.token_acquirer",
    # advice (0013): operator names, the code and category shown, the request's state word
    "release_requests.asked_by",
    "release_requests.shown_category",
    "release_requests.shown_code",
    "release_requests.state",
    "release_requests.decided_by",
    # settle (0012): the import's own words and keys; a file's cells are checked against a pattern
    # of their own (domain/settlement.py: category a lower-case word, currency three letters) and a
    # file carrying anything that reads as a card number is refused whole before anything is kept
    "settlement_runs.source",
    "settlement_runs.acquirer",
    "settlement_runs.operator",
    "settlement_runs.file_sha256",
    "settlement_runs.batch_key",
    "settlement_differences.kind",
    "settlement_differences.currency",
    "settlement_lines.acquirer",
    "settlement_lines.category",
    "settlement_lines.currency",
    "settlement_lines.outcome",
    # shipments (0010): operator names, article codes, a capture's operation word, key, state, code
    "shipments.operator",
    "shipment_lines.article_code",
    "captures.operation",
    "captures.idempotency_key",
    "captures.state",
    "captures.response_code",
    "captures.operator",
    # workers (0009): a worker's name, host:pid:start (engine/owner.py)
    "run_results.worker",
    "run_workers.worker",
}


def test_every_text_column_is_scrubbed_or_declared_not_free_text() -> None:
    from sqlalchemy import String

    from d400tui.store import tables as t
    from d400tui.store.types import ScrubbedText

    unchecked = [
        f"{tb.name}.{c.name}"
        for tb in t.metadata.sorted_tables
        for c in tb.columns
        if isinstance(c.type, String) and f"{tb.name}.{c.name}" not in NOT_FREE_TEXT
    ]
    assert unchecked == []  # a new String/Text column must be a ScrubbedText or say why not
    scrubbed = {
        f"{tb.name}.{c.name}" for tb in t.metadata.sorted_tables for c in tb.columns if isinstance(c.type, ScrubbedText)
    }
    assert {
        "orders.cancel_reason",
        "audit.detail",
        "order_drafts.content",
        "decisions.shown_label",
        "run_results.reason",
        "authorizations.label",
        "customers.name",
    } <= scrubbed
    assert not scrubbed & NOT_FREE_TEXT


def _stored_digits(db_url: str) -> str:
    from sqlalchemy import create_engine, inspect, text

    eng = create_engine(db_url.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        with eng.connect() as conn:
            rows = []
            for name in inspect(conn).get_table_names():
                rows += [repr(tuple(r)) for r in conn.execute(text(f'SELECT * FROM "{name}"'))]
    finally:
        eng.dispose()
    blob = "\n".join(rows)
    return as_digits(blob)


async def test_free_text_is_scrubbed_at_the_store_boundary(engine, db_url: str) -> None:  # type: ignore[no-untyped-def]
    """Through the engine and straight through the store (Core insert, Core update, ORM), in
    every form the card field takes: no full number in any row (on main, a tab-separated number
    in a cancel reason was stored in clear)."""
    from sqlalchemy import insert, update

    from d400tui.domain import model as m
    from d400tui.store import tables as t
    from tests.support.demo import OPER

    for form in FORMS:
        order = engine.create_order(OPER, 100001, [("BON0001", 1)])
        await engine.cancel_order(OPER, order.id, f"client a dicté {form} au téléphone")
        engine.save_draft(OPER, {"notes": f"carte {form}"})
        with engine.db.uow() as uow:
            uow.session.execute(
                insert(t.audit).values(  # bypasses UnitOfWork.audit
                    at=order.created_at, actor="TEST", action="NOTE", order_id=None, detail=f"raw {form}"
                )
            )
            uow.session.execute(
                update(t.orders).where(t.orders.c.id == order.id).values(cancel_reason=f"corrigé {form}")
            )
            loaded = uow.session.get(m.Order, order.id)
            loaded.cancel_reason = f"ORM {form}"
            assert "*" in loaded.cancel_reason  # masked in memory at once: a view never shows it
            uow.commit()
    digits = _stored_digits(db_url)
    assert "4970100000000014" not in digits
    assert engine.load_draft(OPER) is not None  # the draft still reads back as JSON


@pytest.mark.parametrize(
    "sep",
    [
        ",",
        ":",
        ";",
        "+",
        "|",
        "#",
        "'",
        ")(",
        "(",
        "[",
        "]",
        "{",
        "}",
        "<",
        ">",
        "=",
        "~",
        "&",
        "!",
        "?",
        "%",
        "$",
        "@",
        "^",
        "`",
        "，",
        "：",
        "、",
        ", ",
        " + ",
    ],
)
def test_punctuation_between_groups_is_a_separator_for_field_and_scrubber(sep: str) -> None:
    """An outside attack stored `4970,1000,0000,0022` and `5130+1000+0000+0018` in full: every
    punctuation people type between groups is a separator, for the card field and the scrubber."""
    typed = sep.join(("4970", "1000", "0000", "0014"))
    assert clean_pan(typed) == "4970100000000014"
    out = scrub(f"motif : carte {typed} refusée")
    assert "4970100000000014" not in as_digits(out), out
    assert scrub(out) == out  # idempotent: the audit chain hashes the text as stored


def test_scrub_is_idempotent_when_masking_opens_a_new_window() -> None:
    text = "4970 1000 0000 0014 " + " ".join(["1234"] * 6)
    once = scrub(text)
    assert scrub(once) == once
