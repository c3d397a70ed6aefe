"""a batch's "answer already written for this run?" reads one index entry per answer (issue 14)

Before writing a batch of answers a worker checks, for each of its authorizations, that no answer
for it is in the run's results yet (leases.lock_mine). Measured on a million orders: psycopg
prepares the statement after five runs and PostgreSQL keeps a generic plan made at the run's start,
when its statistics knew none of the run's results — each of the 128 checks of a batch walked the
run's results by ix_run_results_run_id: 137 ms a batch at 12,800 answers, 0.47 ms of the 0.78 an
authorization over the first 20,000. ix_run_results_run_id now carries the authorization too
(run, authorization): whatever the plan, each check is one index entry; ix_run_results_authorization
(0009, the authorization alone) had no other reader and goes, one index fewer to write per result.

Revision ID: 0020
Revises: 0019
"""

from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_run_results_authorization", table_name="run_results")
    op.drop_index("ix_run_results_run_id", table_name="run_results")
    op.create_index("ix_run_results_run_id", "run_results", ["run_id", "authorization_id"])


def downgrade() -> None:
    op.drop_index("ix_run_results_run_id", table_name="run_results")
    op.create_index("ix_run_results_run_id", "run_results", ["run_id"])
    op.create_index("ix_run_results_authorization", "run_results", ["authorization_id"])
