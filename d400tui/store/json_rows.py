"""Many rows in one statement: a batch is sent as one JSON parameter and read back as a table
(`jsonb_to_recordset` on PostgreSQL, `json_each` on SQLite), so a batch of answers is one UPDATE
and one INSERT, not one statement per row. Per row, executemany cost SQLAlchemy's parameter
processing (≈ 0.1 ms a row here) and, on PostgreSQL, one firing of the statement triggers of
migration 0007 per row; one statement fires them once.

The values go in as the database stores them (cents, enum text, timestamps as text): callers pass
them through `stored` for the columns whose type converts."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy.types import TypeEngine


def source(dialect: str, columns: dict[str, str]) -> str:
    """A FROM item named `v` with these columns (name → PostgreSQL type) over the JSON array
    bound as `:rows`."""
    if dialect == "postgresql":
        cols = ", ".join(f"{name} {sql_type}" for name, sql_type in columns.items())
        return f"jsonb_to_recordset(CAST(:rows AS jsonb)) AS v({cols})"
    cols = ", ".join(f"value ->> '{name}' AS {name}" for name in columns)
    return f"(SELECT {cols} FROM json_each(:rows)) AS v"


def timestamp(dialect: str, value: datetime | None) -> str | None:
    """A timestamp as the column stores it (SQLite: SQLAlchemy's text form, microseconds always)."""
    if value is None:
        return None
    if value.tzinfo is not None:
        value = value.astimezone().replace(tzinfo=None)
    return value.isoformat(" " if dialect == "sqlite" else "T", "microseconds")


class Stored:
    """A column type's own conversion of a value (a scrub, a Message as JSON), once per distinct
    value: a batch repeats few labels and reasons."""

    def __init__(self, type_: TypeEngine[Any], dialect: Any) -> None:
        self.type, self.dialect = type_, dialect
        self.seen: dict[Any, Any] = {}

    def __call__(self, value: Any) -> Any:
        key = (type(value), value if isinstance(value, str) else repr(value))
        if key not in self.seen:
            self.seen[key] = self.type.process_bind_param(value, self.dialect)  # type: ignore[attr-defined]
        return self.seen[key]


def dumps(rows: list[dict[str, Any]]) -> str:
    return json.dumps(rows, separators=(",", ":"), ensure_ascii=False)
