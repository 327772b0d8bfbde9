"""Alembic migrations of the leaderboard database, run by `arena.leaderboard.opening.open_store`."""
