"""capture claims: the capture run that last took an instalment (one run, whichever of its
workers, takes it once) and the run whose capture is in flight on an authorization

Revision ID: 0015
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # plain ALTER TABLE (no batch copy on SQLite: a copy would drop the stats triggers of 0007)
    op.add_column("instalments", sa.Column("capture_run_id", sa.Integer(), nullable=True))
    op.add_column("authorizations", sa.Column("capture_run_id", sa.Integer(), nullable=True))


def downgrade() -> None:
    op.drop_column("authorizations", "capture_run_id")
    op.drop_column("instalments", "capture_run_id")
