"""Open the leaderboard: connect, bring the tables to the newest schema, load the reference data.

Its own module because the reference data is written through a `Store` (store.py), so opening needs both.
"""

from __future__ import annotations

from sqlalchemy.exc import InterfaceError, OperationalError

from arena.errors import ArenaError
from arena.leaderboard.reference import ensure_reference_data
from arena.leaderboard.store import Store, connect, first_line, migrate


def open_store(db_url: str) -> Store:
    """Open the database at `db_url`, creating or upgrading its tables and loading the reference data."""
    store = connect(db_url)
    try:
        migrate(store)
        ensure_reference_data(store)
    except (OperationalError, InterfaceError) as error:
        store.engine.dispose()
        raise ArenaError(
            f"cannot open the leaderboard database {store.url}: {first_line(getattr(error, 'orig', error))}; check ARENA_DB_URL"
        ) from None
    except ArenaError:
        store.engine.dispose()
        raise
    return store
