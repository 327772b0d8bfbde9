"""Open MLflow's client: the one place arena does, for its writers and its readers alike."""

from __future__ import annotations

import contextlib
import gc
import threading
from collections.abc import Iterator
from pathlib import Path

from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from arena.errors import ArenaError, mask_secrets

_gc_lock = threading.Lock()
_gc_pauses = 0  # reads in progress that paused the cyclic garbage collector
_gc_was_enabled = False


def client_for(tracking_uri: str, *, must_exist: bool = False) -> MlflowClient:
    """An MlflowClient for `tracking_uri`; a store it cannot open raises ArenaError naming it (password masked).

    A writer (`must_exist=False`) gets a SQLite store's folder created, so its first run creates the
    store; a reader (`must_exist=True`) gets an ArenaError for a missing SQLite file, never a new empty store.
    """
    if tracking_uri.startswith("sqlite:///"):
        path = Path(tracking_uri.removeprefix("sqlite:///"))
        if must_exist and not path.is_file():
            raise ArenaError(f"no MLflow tracking store at {path}: nothing has been trained with this tracking URI yet")
        if not must_exist:
            path.parent.mkdir(parents=True, exist_ok=True)
    try:
        return MlflowClient(tracking_uri=tracking_uri)
    except MlflowException as error:
        raise ArenaError(f"cannot open the MLflow tracking store {mask_secrets(tracking_uri)}: {error.message}") from None
    except Exception as error:  # an unknown scheme or a broken database raises assorted errors
        raise ArenaError(f"cannot open the MLflow tracking store {mask_secrets(tracking_uri)}: {error}") from None


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector while MLflow loads a page of runs.

    MLflow's SQL store builds a few ORM objects per tag, param and metric (about 23 per arena run);
    with the collector on, its repeated full passes over those young objects took 3 to 5 times
    longer than the loading itself. Nothing of a page is garbage until the page is done, so the
    pause frees nothing later than it would have been freed. Counted, so concurrent reads in one
    process leave the collector as they found it.
    """
    global _gc_pauses, _gc_was_enabled
    with _gc_lock:
        if _gc_pauses == 0:
            _gc_was_enabled = gc.isenabled()
            gc.disable()
        _gc_pauses += 1
    try:
        yield
    finally:
        with _gc_lock:
            _gc_pauses -= 1
            if _gc_pauses == 0 and _gc_was_enabled:
                gc.enable()
