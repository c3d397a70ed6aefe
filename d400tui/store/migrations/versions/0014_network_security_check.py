"""network choice on co-badged cards and the issuer's CVV check (issue 13)

orders.card_network: the network chosen for the order's card (CB by default on a co-badged card,
Visa or Mastercard on the customer's request), sent again with every re-authorization.
authorizations.network: the network the call was routed on; authorizations.security_check: what
the issuer said of the CVV (MATCH / NO_MATCH / NOT_CHECKED) — never the CVV itself.

Revision ID: 0014
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # plain ALTER TABLE (never a batch copy of the table: it would drop the 0007 triggers on SQLite)
    op.add_column("orders", sa.Column("card_network", sa.String(length=12), nullable=True))
    op.add_column("authorizations", sa.Column("network", sa.String(length=12), nullable=True))
    op.add_column("authorizations", sa.Column("security_check", sa.String(length=12), nullable=True))


def downgrade() -> None:
    op.drop_column("authorizations", "security_check")
    op.drop_column("authorizations", "network")
    op.drop_column("orders", "card_network")
