"""advice: four-eyes release requests; a partial index on declined authorizations by card

An order refused as lost or stolen is released only when a supervisor other than the operator who
asked approves it: `release_requests` keeps each request, what was shown, and who decided. The
retry limit (Visa: 15 re-attempts of one card in 30 days) counts a card's declines through
`ix_authorizations_declined_card`, partial on DECLINED so the pre-check's inserts skip it.

Revision ID: 0013
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0011"
branch_labels = None
depends_on = None

DECLINED = sa.text("state = 'DECLINED'")


def upgrade() -> None:
    op.create_table(
        "release_requests",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("order_id", sa.Integer, nullable=False),
        sa.Column("asked_by", sa.String(20), nullable=False),
        sa.Column("asked_at", sa.DateTime, nullable=False),
        sa.Column("authorization_id", sa.Integer),
        sa.Column("shown_category", sa.String(16), nullable=False),
        sa.Column("shown_code", sa.String(4), nullable=False),
        sa.Column("shown_label", sa.String(length=120), nullable=False),
        sa.Column("state", sa.String(10), nullable=False),
        sa.Column("decided_by", sa.String(20)),
        sa.Column("decided_at", sa.DateTime),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name=op.f("fk_release_requests_order_id_orders"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_release_requests")),
    )
    op.create_index("ix_release_requests_order_state", "release_requests", ["order_id", "state"])
    op.create_index(
        "ix_authorizations_declined_card",
        "authorizations",
        ["card_last4", "card_first6", "answered_at"],
        sqlite_where=DECLINED,
        postgresql_where=DECLINED,
    )


def downgrade() -> None:
    op.drop_index("ix_authorizations_declined_card", table_name="authorizations")
    op.drop_index("ix_release_requests_order_state", table_name="release_requests")
    op.drop_table("release_requests")
