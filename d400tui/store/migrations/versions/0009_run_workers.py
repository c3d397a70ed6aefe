"""workers sharing a run: their leases (run_workers), who did each result and the acquirer's
answer time (run_results.worker, latency_ms), the run's planned total (precheck_runs.planned)

Lease times are seconds since the epoch on the database's clock, so that workers on several
machines compare one clock.

Revision ID: 0009
Revises: 0015
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "run_workers",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("run_id", sa.Integer(), sa.ForeignKey("precheck_runs.id", ondelete="CASCADE"), nullable=False),
        sa.Column("worker", sa.String(length=80), nullable=False),
        sa.Column("concurrency", sa.Integer(), nullable=False),
        sa.Column("started", sa.Float(), nullable=False),
        sa.Column("heartbeat", sa.Float(), nullable=False),
        sa.Column("lease_until", sa.Float(), nullable=False),
        sa.Column("finished", sa.Float(), nullable=True),
        sa.Column("done", sa.Integer(), nullable=False),
        sa.Column("max_rss_kb", sa.Integer(), nullable=True),
    )
    op.create_index("ix_run_workers_run", "run_workers", ["run_id", "worker"], unique=True)
    with op.batch_alter_table("run_results") as batch:
        batch.add_column(sa.Column("worker", sa.String(length=80), nullable=True))
        batch.add_column(sa.Column("latency_ms", sa.Float(), nullable=True))
        batch.create_index("ix_run_results_authorization", ["authorization_id"])
    with op.batch_alter_table("precheck_runs") as batch:
        batch.add_column(sa.Column("planned", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("precheck_runs") as batch:
        batch.drop_column("planned")
    with op.batch_alter_table("run_results") as batch:
        batch.drop_index("ix_run_results_authorization")
        batch.drop_column("latency_ms")
        batch.drop_column("worker")
    op.drop_index("ix_run_workers_run", table_name="run_workers")
    op.drop_table("run_workers")
