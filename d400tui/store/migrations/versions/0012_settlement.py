"""settlement: the acquirer's settlement runs, their lines and the differences they found

A settlement file is imported once (its SHA-256 is unique) and each of its lines once (the
balance transaction id is unique per acquirer), so importing a file twice, or two files that
overlap, changes nothing the second time. Authorizations get an index on acquirer_ref: the
lines are matched with our captures by it. An ISO 8583 batch total (0500/0510) is a run too, its
key unique. Money in integer cents, as everywhere.

Revision ID: 0012
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "settlement_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=10), nullable=False),
        sa.Column("acquirer", sa.String(length=20), nullable=False),
        sa.Column("operator", sa.String(length=20), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.Column("file_name", sa.String(length=120)),
        sa.Column("file_sha256", sa.String(length=64)),
        *(
            sa.Column(name, sa.Integer(), nullable=False)
            for name in (
                "lines",
                "new_lines",
                "already_imported",
                "matched",
                "not_settled",
                "unknown",
                "amount_differs",
                "other_lines",
            )
        ),
        *(sa.Column(name, sa.BigInteger(), nullable=False) for name in ("gross", "fee", "net")),
        sa.Column("first_created", sa.DateTime()),
        sa.Column("last_created", sa.DateTime()),
        sa.Column("batch_key", sa.String(length=64)),
        sa.Column("in_balance", sa.Boolean()),
        sa.Column("our_count", sa.Integer()),
        sa.Column("our_amount", sa.BigInteger()),
        sa.Column("host_count", sa.Integer()),
        sa.Column("host_amount", sa.BigInteger()),
        sa.PrimaryKeyConstraint("id", name="pk_settlement_runs"),
        sa.UniqueConstraint("file_sha256", name="uq_settlement_runs_file_sha256"),
        sa.UniqueConstraint("batch_key", name="uq_settlement_runs_batch_key"),
    )
    op.create_table(
        "settlement_lines",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("acquirer", sa.String(length=20), nullable=False),
        sa.Column("line_key", sa.String(length=80), nullable=False),
        sa.Column("line_no", sa.Integer(), nullable=False),
        sa.Column("reference", sa.String(length=80), nullable=False),
        sa.Column("category", sa.String(length=40), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        *(sa.Column(name, sa.BigInteger(), nullable=False) for name in ("gross", "fee", "net")),
        sa.Column("created", sa.DateTime()),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("authorization_id", sa.Integer()),
        sa.ForeignKeyConstraint(
            ["run_id"], ["settlement_runs.id"], name="fk_settlement_lines_run_id_settlement_runs", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_settlement_lines"),
    )
    op.create_index("ix_settlement_lines_run_id", "settlement_lines", ["run_id"])
    op.create_index("ix_settlement_lines_key", "settlement_lines", ["acquirer", "line_key"], unique=True)
    op.create_index("ix_settlement_lines_reference", "settlement_lines", ["reference"])
    op.create_table(
        "settlement_differences",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("reference", sa.String(length=80)),
        sa.Column("line_key", sa.String(length=80)),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("ours", sa.BigInteger()),
        sa.Column("theirs", sa.BigInteger()),
        sa.Column("order_id", sa.Integer()),
        sa.Column("authorization_id", sa.Integer()),
        sa.Column("since_run", sa.Integer()),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["settlement_runs.id"],
            name="fk_settlement_differences_run_id_settlement_runs",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_settlement_differences"),
    )
    op.create_index("ix_settlement_differences_run_id", "settlement_differences", ["run_id"])
    op.create_index("ix_settlement_differences_authorization_id", "settlement_differences", ["authorization_id"])
    op.create_index("ix_settlement_differences_reference", "settlement_differences", ["reference", "kind"])
    # settlement lines are matched with our captures by the acquirer's reference
    op.create_index("ix_authorizations_acquirer_ref", "authorizations", ["acquirer_ref"])


def downgrade() -> None:
    op.drop_index("ix_authorizations_acquirer_ref", table_name="authorizations")
    op.drop_table("settlement_differences")
    op.drop_table("settlement_lines")
    op.drop_table("settlement_runs")
