"""folded search keys on customers and articles (accent- and case-insensitive F4 prompts on
SQLite and PostgreSQL alike), backfilled from the rows already there; an index for the
operator filter of the order lists ("mes commandes")

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

from d400tui.store.search_keys import article_key, customer_key, digits

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("customers") as batch:
        batch.add_column(sa.Column("search_key", sa.String(length=120), nullable=False, server_default=""))
        batch.add_column(sa.Column("phone_key", sa.String(length=20), nullable=False, server_default=""))
    with op.batch_alter_table("articles") as batch:
        batch.add_column(sa.Column("search_key", sa.String(length=120), nullable=False, server_default=""))
    conn = op.get_bind()
    custs = sa.table(
        "customers",
        sa.column("id"),
        sa.column("name"),
        sa.column("city"),
        sa.column("phone"),
        sa.column("search_key"),
        sa.column("phone_key"),
    )
    rows = conn.execute(sa.select(custs.c.id, custs.c.name, custs.c.city, custs.c.phone)).all()
    if rows:
        conn.execute(
            custs.update()
            .where(custs.c.id == sa.bindparam("cid"))
            .values(search_key=sa.bindparam("sk"), phone_key=sa.bindparam("pk")),
            [dict(cid=r[0], sk=customer_key(r[1], r[2]), pk=digits(r[3] or "")[:20]) for r in rows],
        )
    arts = sa.table("articles", sa.column("code"), sa.column("label"), sa.column("search_key"))
    art_rows = conn.execute(sa.select(arts.c.code, arts.c.label)).all()
    if art_rows:
        conn.execute(
            arts.update().where(arts.c.code == sa.bindparam("acode")).values(search_key=sa.bindparam("sk")),
            [dict(acode=r[0], sk=article_key(r[0], r[1])) for r in art_rows],
        )
    op.create_index("ix_customers_search_key", "customers", ["search_key"])
    op.create_index("ix_customers_phone_key", "customers", ["phone_key"])
    op.create_index("ix_articles_search_key", "articles", ["search_key"])
    op.create_index("ix_orders_created_by", "orders", ["created_by", "id"])  # "mes commandes", newest first


def downgrade() -> None:
    op.drop_index("ix_orders_created_by", table_name="orders")
    op.drop_index("ix_articles_search_key", table_name="articles")
    op.drop_index("ix_customers_phone_key", table_name="customers")
    op.drop_index("ix_customers_search_key", table_name="customers")
    with op.batch_alter_table("articles") as batch:
        batch.drop_column("search_key")
    with op.batch_alter_table("customers") as batch:
        batch.drop_column("phone_key")
        batch.drop_column("search_key")
