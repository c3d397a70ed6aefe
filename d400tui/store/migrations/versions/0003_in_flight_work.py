"""work in flight on authorizations: capture_pending (a capture sent, answer not yet recorded)
and owner (the process that sent a REQUESTED call, so the reconciler knows when it died)

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
        batch.add_column(sa.Column("owner", sa.String(length=80), nullable=True))
        batch.create_index("ix_authorizations_capture_pending", ["capture_pending"])


def downgrade() -> None:
    with op.batch_alter_table("authorizations") as batch:
        batch.drop_index("ix_authorizations_capture_pending")
        batch.drop_column("owner")
        batch.drop_column("capture_pending")
