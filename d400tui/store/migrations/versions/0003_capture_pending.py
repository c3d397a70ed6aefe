"""authorizations.capture_pending: a capture sent whose answer is not yet recorded

Revision ID: 0003
Revises: 0002
"""
import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("authorizations") as batch:
        batch.add_column(sa.Column("capture_pending", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch.create_index("ix_authorizations_capture_pending", ["capture_pending"])


def downgrade() -> None:
    with op.batch_alter_table("authorizations") as batch:
        batch.drop_index("ix_authorizations_capture_pending")
        batch.drop_column("capture_pending")
