"""The SQL leaderboard: reference (paper and challenge) figures beside measured MLflow runs.

    store = open_store(settings.db_url)            # creates or upgrades the database
    report = sync_runs(store, settings.tracking_uri)
    print(render(show(store, "ilsvrc"), "table", "ilsvrc"))
"""

from __future__ import annotations

from arena.leaderboard.render import FORMATS, render
from arena.leaderboard.opening import open_store
from arena.leaderboard.store import Store
from arena.leaderboard.sync import SyncReport, sync_runs
from arena.leaderboard.views import VIEWS, show

__all__ = ["FORMATS", "VIEWS", "Store", "SyncReport", "open_store", "render", "show", "sync_runs"]
