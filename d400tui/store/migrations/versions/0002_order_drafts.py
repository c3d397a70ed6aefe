"""order drafts: the order being typed, per operator

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "order_drafts",
        sa.Column("operator", sa.String(length=20), nullable=False),
        sa.Column("saved_at", sa.DateTime(), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("operator", name=op.f("pk_order_drafts")),
    )


def downgrade() -> None:
    op.drop_table("order_drafts")
