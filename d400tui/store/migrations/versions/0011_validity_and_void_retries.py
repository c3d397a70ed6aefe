"""the validity model's key on each authorization (initiator CIT/MIT, type FINAL/PRE), and the
retries of a void that did not get through (attempts, first and last try, next try on a backoff),
and an index on instalments.authorized_until for work with orders' "expiring within 48 h"

Rows written before this revision were customer-initiated final authorizations: the defaults say so.

Revision ID: 0011
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # plain ADD COLUMN (no table copy on SQLite: the stats triggers of 0007 stay in place)
    for column in (
        sa.Column("initiator", sa.String(length=20), nullable=False, server_default="CIT"),
        sa.Column("auth_type", sa.String(length=20), nullable=False, server_default="FINAL"),
        sa.Column("void_attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("void_first_at", sa.DateTime(), nullable=True),
        sa.Column("void_tried_at", sa.DateTime(), nullable=True),
        sa.Column("void_next_at", sa.DateTime(), nullable=True),
    ):
        op.add_column("authorizations", column)
    op.create_index("ix_instalments_authorized_until", "instalments", ["authorized_until"])


def downgrade() -> None:
    op.drop_index("ix_instalments_authorized_until", "instalments")
    # plain DROP COLUMN (SQLite 3.35+), no table copy: the triggers on authorizations stay in place
    for col in ("void_next_at", "void_tried_at", "void_first_at", "void_attempts", "auth_type", "initiator"):
        op.drop_column("authorizations", col)
