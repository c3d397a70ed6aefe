"""audit trail: hash chain, chain head, TRUNCATE and REPLACE refused

Revision ID: 0005
Revises: 0004

Each audit record gets the hash of the one before it and its own (existing records are chained in
id order here); `audit_head` holds the last hash and the count. PostgreSQL refuses TRUNCATE (the
row triggers of 0001 never see it); SQLite refuses an INSERT onto an existing id, since
`REPLACE INTO` deletes the old row without firing DELETE triggers (recursive_triggers is off).
"""

import sqlalchemy as sa
from alembic import op

from d400tui.store.repositories import GENESIS, chain_hash

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

REFUSE = "SELECT RAISE(ABORT, 'audit trail is append-only')"


def _chain_existing(conn: sa.Connection) -> tuple[int, str]:
    prev, n = GENESIS, 0
    audit = sa.table(
        "audit",
        sa.column("id"),
        sa.column("at", sa.DateTime),
        sa.column("actor"),
        sa.column("action"),
        sa.column("order_id"),
        sa.column("detail"),
        sa.column("prev_hash"),
        sa.column("hash"),
    )
    rows = conn.execute(
        sa.select(audit.c.id, audit.c.at, audit.c.actor, audit.c.action, audit.c.order_id, audit.c.detail).order_by(
            audit.c.id
        )
    ).all()
    for rid, at, actor, action, order_id, detail in rows:
        own = chain_hash(prev, at, actor, action, order_id, detail)
        conn.execute(sa.update(audit).where(audit.c.id == rid).values(prev_hash=prev, hash=own))
        prev, n = own, n + 1
    return n, prev


def upgrade() -> None:
    conn = op.get_bind()
    sqlite = conn.dialect.name == "sqlite"
    op.create_table(
        "audit_head",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("n", sa.BigInteger(), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_head")),
    )
    op.add_column("audit", sa.Column("prev_hash", sa.String(length=64), nullable=True))
    op.add_column("audit", sa.Column("hash", sa.String(length=64), nullable=True))
    # The backfill is the one UPDATE the trail ever gets: the refusal is lifted for it alone.
    if sqlite:
        op.execute("DROP TRIGGER audit_no_update")
    else:
        op.execute("ALTER TABLE audit DISABLE TRIGGER audit_append_only")
    n, head = _chain_existing(conn)
    conn.execute(sa.text("INSERT INTO audit_head (id, n, hash) VALUES (1, :n, :h)"), {"n": n, "h": head})
    if sqlite:
        op.execute(f"CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit BEGIN {REFUSE}; END")
        op.execute(
            "CREATE TRIGGER audit_no_replace BEFORE INSERT ON audit "
            f"WHEN EXISTS (SELECT 1 FROM audit WHERE id = NEW.id) BEGIN {REFUSE}; END"
        )
        op.execute(f"CREATE TRIGGER audit_head_no_delete BEFORE DELETE ON audit_head BEGIN {REFUSE}; END")
    else:
        op.execute("ALTER TABLE audit ENABLE TRIGGER audit_append_only")
        op.execute(
            "CREATE TRIGGER audit_no_truncate BEFORE TRUNCATE ON audit "
            "FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only()"
        )
        op.execute(
            "CREATE TRIGGER audit_head_no_delete BEFORE DELETE OR TRUNCATE ON audit_head "
            "FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only()"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS audit_no_replace")
        op.execute("DROP TRIGGER IF EXISTS audit_head_no_delete")
        op.drop_table("audit_head")
        # SQLite drops a column by copying the table: the copy gets the triggers of 0001 again.
        op.execute("DROP TRIGGER IF EXISTS audit_no_update")
        op.execute("DROP TRIGGER IF EXISTS audit_no_delete")
        with op.batch_alter_table("audit") as batch_op:
            batch_op.drop_column("hash")
            batch_op.drop_column("prev_hash")
        for verb in ("UPDATE", "DELETE"):
            op.execute(f"CREATE TRIGGER audit_no_{verb.lower()} BEFORE {verb} ON audit BEGIN {REFUSE}; END")
        return
    op.execute("DROP TRIGGER IF EXISTS audit_no_truncate ON audit")
    op.execute("DROP TRIGGER IF EXISTS audit_head_no_delete ON audit_head")
    op.drop_table("audit_head")
    op.drop_column("audit", "hash")
    op.drop_column("audit", "prev_hash")
