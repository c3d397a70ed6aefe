"""Alembic environment: runs on the engine handed over by d400tui.store.db.Database."""

from alembic import context

from d400tui.store.tables import metadata

config = context.config
target_metadata = metadata


def run() -> None:
    engine = config.attributes.get("engine")
    if engine is None:
        from sqlalchemy import create_engine

        url = config.get_main_option("sqlalchemy.url")
        if not url:
            raise SystemExit("alembic: set sqlalchemy.url (or use `d400 db upgrade`)")
        engine = create_engine(url)
    with engine.begin() as conn:
        context.configure(connection=conn, target_metadata=metadata, render_as_batch=True)
        context.run_migrations()


run()
