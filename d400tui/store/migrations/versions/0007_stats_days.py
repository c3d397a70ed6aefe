"""supervision figures per past day, kept exact by triggers; indexes on the dates they are read by

A past day's figures are computed once into the stats_day_* tables (store/stats.py). Any insert,
delete or change of an authorization or decision row of that day — a late answer, a reconcile, a
row moved by hand — deletes the day's `stats_days` row (and its figures, by cascade) in the same
transaction, so the day is computed again from its rows the next time it is asked for.

Revision ID: 0007
Revises: 0006
"""

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

# (table, the date column that places a row on a day, the columns a figure is made of)
WATCHED = (
    ("authorizations", "requested_at", ("requested_at", "answered_at", "category", "response_code")),
    ("decisions", "at", ("at", "kind", "operator")),
)


def _sqlite_triggers(table: str, when: str, cols: tuple[str, ...]) -> list[str]:
    def forget(row: str) -> str:
        return f"DELETE FROM stats_days WHERE day = date({row}.{when});"

    return [
        f"CREATE TRIGGER stats_{table}_ins AFTER INSERT ON {table} BEGIN {forget('NEW')} END",
        f"CREATE TRIGGER stats_{table}_del AFTER DELETE ON {table} BEGIN {forget('OLD')} END",
        f"CREATE TRIGGER stats_{table}_upd AFTER UPDATE OF {', '.join(cols)} ON {table} "
        f"BEGIN {forget('OLD')} {forget('NEW')} END",
    ]


def _pg_triggers(table: str, when: str, cols: tuple[str, ...]) -> list[str]:
    # Statement triggers with transition tables: a bulk insert costs one call, not one per row.
    # The DELETE always runs (even when no day matches): its lock on stats_days is what makes a
    # writer wait for, or be waited for by, a day being computed (store/stats.close_days).
    changed = " OR ".join(f"o.{c} IS DISTINCT FROM n.{c}" for c in cols)
    days = {
        "INSERT": f"SELECT CAST({when} AS date) FROM new_rows",
        "DELETE": f"SELECT CAST({when} AS date) FROM old_rows",
        "UPDATE": f"SELECT CAST(o.{when} AS date) FROM old_rows o JOIN new_rows n ON n.id = o.id WHERE {changed} "
        f"UNION SELECT CAST(n.{when} AS date) FROM old_rows o JOIN new_rows n ON n.id = o.id WHERE {changed}",
    }
    body = " ".join(
        f"{'IF' if k == 'INSERT' else 'ELSIF'} TG_OP = '{k}' THEN DELETE FROM stats_days WHERE day IN ({q});"
        for k, q in days.items()
    )
    return [
        f"CREATE FUNCTION stats_forget_{table}() RETURNS trigger LANGUAGE plpgsql AS $$ "
        f"BEGIN {body} END IF; RETURN NULL; END $$",
        f"CREATE TRIGGER stats_{table}_ins AFTER INSERT ON {table} REFERENCING NEW TABLE AS new_rows "
        f"FOR EACH STATEMENT EXECUTE FUNCTION stats_forget_{table}()",
        f"CREATE TRIGGER stats_{table}_del AFTER DELETE ON {table} REFERENCING OLD TABLE AS old_rows "
        f"FOR EACH STATEMENT EXECUTE FUNCTION stats_forget_{table}()",
        f"CREATE TRIGGER stats_{table}_upd AFTER UPDATE ON {table} REFERENCING OLD TABLE AS old_rows "
        f"NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION stats_forget_{table}()",
    ]


def upgrade() -> None:
    # covering: the figures read these four columns of a day's rows without a table lookup each
    op.create_index(
        "ix_authorizations_requested_at", "authorizations", ["requested_at", "category", "response_code", "answered_at"]
    )
    op.create_index("ix_decisions_at", "decisions", ["at"])
    op.create_table(
        "stats_days",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("unavailable_minutes", sa.Integer(), nullable=False),
        sa.Column("closed_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("day", name="pk_stats_days"),
    )
    children: dict[str, list[sa.Column[Any]]] = {
        "stats_day_outcomes": [
            sa.Column("category", sa.String(length=20)),
            sa.Column("response_code", sa.String(length=4)),
        ],
        "stats_day_latency": [sa.Column("ms", sa.BigInteger(), nullable=False)],
        "stats_day_decisions": [
            sa.Column("operator", sa.String(length=20), nullable=False),
            sa.Column("kind", sa.String(length=20), nullable=False),
        ],
    }
    for name, extra in children.items():
        op.create_table(
            name,
            sa.Column("id", sa.Integer(), nullable=False),
            sa.Column("day", sa.Date(), nullable=False),
            *extra,
            sa.Column("n", sa.Integer(), nullable=False),
            sa.ForeignKeyConstraint(["day"], ["stats_days.day"], name=f"fk_{name}_day_stats_days", ondelete="CASCADE"),
            sa.PrimaryKeyConstraint("id", name=f"pk_{name}"),
        )
        op.create_index(f"ix_{name}_day", name, ["day"])
    make = _pg_triggers if op.get_bind().dialect.name == "postgresql" else _sqlite_triggers
    for table, when, cols in WATCHED:
        for ddl in make(table, when, cols):
            op.execute(ddl)


def downgrade() -> None:
    pg = op.get_bind().dialect.name == "postgresql"
    for table, _, _ in WATCHED:
        for suffix in ("ins", "del", "upd"):
            op.execute(f"DROP TRIGGER stats_{table}_{suffix}" + (f" ON {table}" if pg else ""))
        if pg:
            op.execute(f"DROP FUNCTION stats_forget_{table}()")
    for name in ("stats_day_decisions", "stats_day_latency", "stats_day_outcomes", "stats_days"):
        op.drop_table(name)
    op.drop_index("ix_decisions_at", table_name="decisions")
    op.drop_index("ix_authorizations_requested_at", table_name="authorizations")
