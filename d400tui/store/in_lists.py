"""`column IN (:ids)` bound once at execution, whatever the list's length: on PostgreSQL
`column = ANY(:ids)`, one array parameter, so the statement's text is the same for every batch —
psycopg converts it once and prepares it on the server after a few runs (an expanding IN is a new
text for each length: parsed and planned again, 14,000 placeholders rendered for 2,000 captures,
measured); elsewhere an expanding IN (SQLite has no arrays)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Boolean, any_, bindparam
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.visitors import InternalTraversal


class InList(ColumnElement[bool]):
    """`column` in the list bound as `name` (pass a list, sorted where rows get locked)."""

    inherit_cache = True
    type = Boolean()
    _is_implicitly_boolean = True  # a condition (SQLite would be told `… = 1` of a column)
    _traverse_internals = [("column", InternalTraversal.dp_clauseelement), ("name", InternalTraversal.dp_string)]

    def __init__(self, column: Any, name: str) -> None:
        self.column, self.name = column, name


def in_list(column: Any, name: str) -> Any:
    return InList(column, name)


@compiles(InList)
def _expanding(element: InList, compiler: Any, **kw: Any) -> str:
    return str(compiler.process(element.column.in_(bindparam(element.name, expanding=True)), **kw))


@compiles(InList, "postgresql")
def _any(element: InList, compiler: Any, **kw: Any) -> str:
    array = bindparam(element.name, type_=ARRAY(element.column.type))
    return str(compiler.process(element.column == any_(array), **kw))
