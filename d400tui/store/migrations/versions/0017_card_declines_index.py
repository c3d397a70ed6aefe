"""a card's declines found by its whole identity and answer code (issue 13.1, issuer2 branch)

The pre-check's claims now look up their cards' never-retry declines (41, 43, 57 …) on every
order (store.retries.never_retry_declines), as the retry limit counts a card's declines. The
0013 index (last four, first six, answered at) left the expiry and the code to a table read per
decline: a test card declined on thousands of demo orders cost 2-4 ms a claim of 128 (SQLite,
PostgreSQL). `ix_authorizations_card_declines` (last four, first six, expiry, code, answered at),
still partial on DECLINED (the pre-check's inserts of REQUESTED rows skip it), replaces it: the
same one index to maintain, probed per code.

Revision ID: 0017
Revises: 0016
"""

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

DECLINED = sa.text("state = 'DECLINED'")


def upgrade() -> None:
    op.create_index(
        "ix_authorizations_card_declines",
        "authorizations",
        ["card_last4", "card_first6", "card_expiry", "response_code", "answered_at"],
        sqlite_where=DECLINED,
        postgresql_where=DECLINED,
    )
    op.drop_index("ix_authorizations_declined_card", table_name="authorizations")


def downgrade() -> None:
    op.create_index(
        "ix_authorizations_declined_card",
        "authorizations",
        ["card_last4", "card_first6", "answered_at"],
        sqlite_where=DECLINED,
        postgresql_where=DECLINED,
    )
    op.drop_index("ix_authorizations_card_declines", table_name="authorizations")
