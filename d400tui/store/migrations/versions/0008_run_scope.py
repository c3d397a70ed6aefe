"""the batch runs read instalments without scanning orders: a run scope on the instalment, kept by
triggers, and partial indexes over what is still due; indexes for re-authorization and date filters

`instalments.run_scope` says which run an instalment of a validated order belongs to: 'CARD' (a
phone order paid by card: the pre-check and the capture take it), 'OTHER' (another channel or
method: counted, never authorized), NULL (the order is not validated). Triggers set it on every
instalment insert and whenever an order's status, channel or payment method changes, in the same
statement: the runs' selections, claims and counts then read one small partial index instead of
joining a million orders (a parallel sequential scan of `orders` in every count, 0.3–0.8 s).

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0015"
branch_labels = None
depends_on = None


def scope(row: str) -> str:
    """The run scope of an order row (`row.` prefix: NEW, OLD or a table alias)."""
    return (
        f"CASE WHEN {row}status <> 'VALIDATED' THEN NULL "
        f"WHEN {row}channel = 'PHONE' AND {row}payment_method = 'CARD' THEN 'CARD' ELSE 'OTHER' END"
    )


FOLLOWED = "status, channel, payment_method"


def _sqlite_triggers() -> list[str]:
    of_order = f"(SELECT {scope('o.')} FROM orders o WHERE o.id = NEW.order_id)"
    return [
        # an instalment inserted with a scope that is not its order's (the ORM inserts none) gets it
        f"CREATE TRIGGER instalments_scope_ins AFTER INSERT ON instalments WHEN NEW.run_scope IS NOT {of_order} "
        f"BEGIN UPDATE instalments SET run_scope = {of_order} WHERE id = NEW.id; END",
        f"CREATE TRIGGER orders_scope_upd AFTER UPDATE OF {FOLLOWED} ON orders "
        f"WHEN ({scope('OLD.')}) IS NOT ({scope('NEW.')}) "
        f"BEGIN UPDATE instalments SET run_scope = {scope('NEW.')} WHERE order_id = NEW.id; END",
    ]


def _pg_triggers() -> list[str]:
    return [
        # statement trigger: a bulk load (COPY of a million rows) costs one join, and writes only
        # the rows whose scope was not given right
        "CREATE FUNCTION instalments_scope_ins() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        f"UPDATE instalments i SET run_scope = {scope('o.')} FROM new_rows n JOIN orders o ON o.id = n.order_id "
        f"WHERE i.id = n.id AND i.run_scope IS DISTINCT FROM ({scope('o.')}); RETURN NULL; END $$",
        "CREATE TRIGGER instalments_scope_ins AFTER INSERT ON instalments REFERENCING NEW TABLE AS new_rows "
        "FOR EACH STATEMENT EXECUTE FUNCTION instalments_scope_ins()",
        "CREATE FUNCTION orders_scope_upd() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        f"UPDATE instalments SET run_scope = {scope('NEW.')} WHERE order_id = NEW.id; RETURN NULL; END $$",
        f"CREATE TRIGGER orders_scope_upd AFTER UPDATE OF {FOLLOWED} ON orders FOR EACH ROW "
        f"WHEN (({scope('OLD.')}) IS DISTINCT FROM ({scope('NEW.')})) EXECUTE FUNCTION orders_scope_upd()",
    ]


def upgrade() -> None:
    with op.batch_alter_table("instalments") as batch:
        batch.add_column(sa.Column("run_scope", sa.String(length=8), nullable=True))
    op.execute(
        f"UPDATE instalments SET run_scope = (SELECT {scope('o.')} FROM orders o WHERE o.id = instalments.order_id)"
    )
    # the claims walk this one in id order; the counts and the capture read the other by due date
    op.create_index(
        "ix_instalments_run_claim",
        "instalments",
        ["id"],
        sqlite_where=sa.text("state = 'PENDING' AND run_scope = 'CARD'"),
        postgresql_where=sa.text("state = 'PENDING' AND run_scope = 'CARD'"),
    )
    op.create_index(
        "ix_instalments_run_due",
        "instalments",
        ["run_scope", "due_date"],
        sqlite_where=sa.text("state = 'PENDING' AND run_scope IS NOT NULL"),
        postgresql_where=sa.text("state = 'PENDING' AND run_scope IS NOT NULL"),
    )
    # a run's own claims still in flight (end-of-run counts), few at any time
    op.create_index(
        "ix_instalments_in_flight",
        "instalments",
        ["precheck_run_id"],
        sqlite_where=sa.text("auth_pending = 1"),  # as SQLAlchemy writes the bare column there
        postgresql_where=sa.text("auth_pending"),
    )
    op.create_index("ix_authorizations_instalment", "authorizations", ["instalment_id"])
    op.create_index("ix_orders_order_date", "orders", ["order_date", "id"])
    for ddl in _pg_triggers() if op.get_bind().dialect.name == "postgresql" else _sqlite_triggers():
        op.execute(ddl)


def downgrade() -> None:
    pg = op.get_bind().dialect.name == "postgresql"
    op.execute("DROP TRIGGER instalments_scope_ins" + (" ON instalments" if pg else ""))
    op.execute("DROP TRIGGER orders_scope_upd" + (" ON orders" if pg else ""))
    if pg:
        op.execute("DROP FUNCTION instalments_scope_ins()")
        op.execute("DROP FUNCTION orders_scope_upd()")
    op.drop_index("ix_orders_order_date", table_name="orders")
    op.drop_index("ix_authorizations_instalment", table_name="authorizations")
    for name in ("ix_instalments_in_flight", "ix_instalments_run_due", "ix_instalments_run_claim"):
        op.drop_index(name, table_name="instalments")
    with op.batch_alter_table("instalments") as batch:
        batch.drop_column("run_scope")
