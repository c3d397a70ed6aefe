"""index for the orders awaiting an operator decision (menu option 3)

Revision ID: 0004
Revises: 0003
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_orders_awaiting", "orders", ["awaiting_decision", "id"])


def downgrade() -> None:
    op.drop_index("ix_orders_awaiting", table_name="orders")
