"""forget the SQLite databases' closed stats days: their latencies were counted 1 s long at times

store/stats.py took a latency's whole seconds from strftime('%s', stamp), which on SQLite rounds
the stamp to the millisecond first: a stamp in the last half-millisecond of a second
(…:58.999831) read as the next second, a latency 1,000 ms too long (CI caught p95 1,230 ms where
the rows said 454). The formula now reads the first 19 characters; the days closed with the old
one are forgotten here, so the next read counts them again from their rows, exactly. PostgreSQL
computed them exactly all along: nothing to do there.

Revision ID: 0018
Revises: 0017
"""

from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    for table in ("stats_day_latency", "stats_day_outcomes", "stats_day_decisions", "stats_days"):
        op.execute(f"DELETE FROM {table}")


def downgrade() -> None:
    """Nothing to restore: the forgotten days are recounted from their rows whatever the revision."""
