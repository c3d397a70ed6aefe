"""Alembic environment: runs on the engine handed over by d400tui.store.db.Database."""

from alembic import context

from d400tui.store.tables import metadata

config = context.config
target_metadata = metadata


def run() -> None:
    engine = config.attributes.get("engine")
    if engine is None:
        from sqlalchemy import create_engine

        engine = create_engine(config.get_main_option("sqlalchemy.url"))
    with engine.begin() as conn:
        context.configure(connection=conn, target_metadata=metadata, render_as_batch=True)
        context.run_migrations()


run()
