"""the acquirer that issued the order's card token (issue 13.5)

orders.token_acquirer: a token belongs to the acquirer that issued it; every call made with
the stored token (pre-check, modify, retry, a parcel's re-authorization) goes there, never to
whichever acquirer is first now (the other one does not know it: a false 14, card unknown).

Existing rows are filled from their authorizations: the acquirer of the newest answered
authorization that followed a FAILOVER decision (a failover stored the secondary's token), else the
acquirer of the order's first answered authorization (the one whose answer brought the token).
Rows left NULL (a token with no answered authorization: demo data) mean the primary.

Revision ID: 0016
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0009"
branch_labels = None
depends_on = None

_ANSWERED = "('APPROVED', 'CAPTURED', 'VOIDED', 'EXPIRED', 'DECLINED')"
_BACKFILL = f"""
UPDATE orders SET token_acquirer = COALESCE(
    (SELECT a.acquirer FROM authorizations a
      WHERE a.order_id = orders.id AND a.state IN ('APPROVED', 'CAPTURED', 'VOIDED', 'EXPIRED')
        AND EXISTS (SELECT 1 FROM decisions d
                     WHERE d.order_id = a.order_id AND d.kind = 'FAILOVER' AND d.at <= a.requested_at)
      ORDER BY a.id DESC LIMIT 1),
    (SELECT a.acquirer FROM authorizations a
      WHERE a.order_id = orders.id AND a.state IN {_ANSWERED} AND a.answered_at IS NOT NULL
      ORDER BY a.id LIMIT 1))
WHERE card_token IS NOT NULL
"""


def upgrade() -> None:
    # plain ALTER TABLE (never a batch copy of the table: it would drop the 0007 triggers on SQLite)
    op.add_column("orders", sa.Column("token_acquirer", sa.String(length=20), nullable=True))
    op.execute(_BACKFILL)


def downgrade() -> None:
    op.drop_column("orders", "token_acquirer")
