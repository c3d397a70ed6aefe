"""F4 prompt searches: accents and case ignored on SQLite and PostgreSQL, by name, city, postcode,
phone number and customer number; a migrated database finds rows inserted before 0006."""

from __future__ import annotations

import pytest
from sqlalchemy import insert, select

from d400tui.store import tables as t


def names(custs) -> list[str]:  # type: ignore[no-untyped-def]
    return [c.name for c in custs]


@pytest.mark.parametrize("typed", ["francois", "FRANCOIS", "François", "  franÇois "])
def test_customer_name_without_accents_or_case(engine, typed) -> None:  # type: ignore[no-untyped-def]
    found = names(engine.search_customers(typed, 50))
    assert "FRANÇOIS Isabelle" in found and "FRANÇOIS Nathalie" in found
    # "Françoise" contains "francois" too: a substring search, as the old one was
    assert all("FRAN" in n.upper() for n in found)


def test_customer_lefevre_and_city(engine) -> None:  # type: ignore[no-untyped-def]
    assert "LEFÈVRE Nathalie" in names(engine.search_customers("lefevre"))
    assert all(c.city == "TOULOUSE" for c in engine.search_customers("toulouse"))
    assert engine.search_customers("toulouse")


def test_customer_postcode_phone_and_number(engine) -> None:  # type: ignore[no-untyped-def]
    assert {c.postcode for c in engine.search_customers("29200")} == {"29200"}
    assert [c.id for c in engine.search_customers("01 71 93 86 99")] == [100001]
    assert [c.id for c in engine.search_customers("0171938699")] == [100001]
    assert 100006 in [c.id for c in engine.search_customers("100006")]


def test_nothing_found_and_wildcards_are_literal(engine) -> None:  # type: ignore[no-untyped-def]
    assert engine.search_customers("zzzqqq") == []
    assert engine.search_customers("%") == []
    assert engine.search_customers("_") == []


def test_article_label_case_and_accents(engine) -> None:  # type: ignore[no-untyped-def]
    found = [a.code for a in engine.search_articles("BONNET", 200)]
    assert "BON0001" in found and "BON0014" in found
    assert [a.code for a in engine.search_articles("bonnet", 200)] == found
    assert "BON0014" in [a.code for a in engine.search_articles("ceramique", 200)]
    assert "BON0001" in [a.code for a in engine.search_articles("bon0001")]


def test_rows_inserted_later_get_their_key(engine) -> None:  # type: ignore[no-untyped-def]
    with engine.db.uow() as uow:
        uow.session.execute(
            insert(t.customers),
            [dict(id=990001, name="ŒUVRÉ Hélène", postcode="13001", city="MARSEILLE", phone="04.91.00.00.01")],
        )
        uow.commit()
        key = uow.session.scalar(select(t.customers.c.search_key).where(t.customers.c.id == 990001))
    assert key == "OEUVRE HELENE MARSEILLE"
    assert [c.id for c in engine.search_customers("oeuvre helene")] == [990001]
    assert [c.id for c in engine.search_customers("0491000001")] == [990001]
