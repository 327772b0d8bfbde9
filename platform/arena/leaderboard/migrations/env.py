"""Alembic environment: migrate the connection `open_store` hands over, against the package's metadata."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine
from sqlalchemy.engine import Connection

from arena.leaderboard.schema import Base

config = context.config
target_metadata = Base.metadata


def _run(connection: Connection) -> None:
    """Run the pending revisions on `connection` (inside the caller's transaction when it has one)."""
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",  # SQLite alters tables by copying them
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    context.configure(url=config.get_main_option("sqlalchemy.url"), target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
elif (shared := config.attributes.get("connection")) is not None:
    _run(shared)
else:  # `alembic` run by hand with sqlalchemy.url set, e.g. to autogenerate a new revision
    engine = create_engine(config.get_main_option("sqlalchemy.url"))
    with engine.begin() as own:
        _run(own)
    engine.dispose()
