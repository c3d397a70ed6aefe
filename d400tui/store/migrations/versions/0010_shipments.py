"""shipments, their lines, and one capture row per capture of what they shipped

An order's lines ship in several parcels (issue 12.1): each parcel is a `shipments` row with its
`shipment_lines`; the invoicing capture takes what was shipped, one `captures` row per call to the
acquirer under its own idempotency key (committed REQUESTED before the call), so a capture run
twice captures once and the sum of captures is checked against the authorization.

Revision ID: 0010
Revises: 0015
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "shipments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=False),
        sa.Column("shipped_at", sa.DateTime(), nullable=False),
        sa.Column("operator", sa.String(length=20), nullable=False),
        sa.Column("final", sa.Boolean(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["order_id"], ["orders.id"], name="fk_shipments_order_id_orders", ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name="pk_shipments"),
    )
    op.create_index("ix_shipments_order_id", "shipments", ["order_id"])
    op.create_table(
        "shipment_lines",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("shipment_id", sa.Integer(), nullable=False),
        sa.Column("line_no", sa.Integer(), nullable=False),
        sa.Column("article_code", sa.String(length=12), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["shipment_id"], ["shipments.id"], name="fk_shipment_lines_shipment_id_shipments", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_shipment_lines"),
    )
    op.create_index("ix_shipment_lines_shipment_id", "shipment_lines", ["shipment_id"])
    op.create_table(
        "captures",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=False),
        sa.Column("authorization_id", sa.Integer(), nullable=False),
        sa.Column("instalment_seq", sa.Integer(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("release", sa.BigInteger(), nullable=False),
        sa.Column("operation", sa.String(length=10), nullable=False),
        sa.Column("idempotency_key", sa.String(length=80), nullable=False),
        sa.Column("state", sa.String(length=12), nullable=False),
        sa.Column("response_code", sa.String(length=4), nullable=False),
        sa.Column("requested_at", sa.DateTime(), nullable=True),
        sa.Column("answered_at", sa.DateTime(), nullable=True),
        sa.Column("operator", sa.String(length=20), nullable=False),
        sa.ForeignKeyConstraint(["order_id"], ["orders.id"], name="fk_captures_order_id_orders", ondelete="CASCADE"),
        sa.ForeignKeyConstraint(
            ["authorization_id"],
            ["authorizations.id"],
            name="fk_captures_authorization_id_authorizations",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_captures"),
        sa.UniqueConstraint("idempotency_key", name="uq_captures_idempotency_key"),
    )
    op.create_index("ix_captures_order_id", "captures", ["order_id"])
    op.create_index("ix_captures_authorization_id", "captures", ["authorization_id"])


def downgrade() -> None:
    op.drop_table("captures")
    op.drop_table("shipment_lines")
    op.drop_table("shipments")
