"""Alembic migrations of the leaderboard database, run by `arena.leaderboard.store.open_store`."""
