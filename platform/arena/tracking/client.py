"""Open MLflow's client: the one place arena does, for its writers and its readers alike.

Every client it opens masks secrets in the params and tags it writes, and it first makes sure the
store answers (`arena.services`): a tracking server or database that is down, or that refuses arena's
credentials, is one ArenaError naming it and ARENA_TRACKING_URI within seconds, never MLflow's minutes of retries.
MLflow's own HTTP retries are bounded once, where the `arena` command starts (`settings.mlflow_http_limits`).
"""

from __future__ import annotations

import contextlib
import gc
import os
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from mlflow.entities import Param, RunTag
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from arena.errors import ArenaError, mask_secrets
from arena.services import require_tracking_store
from arena.settings import TrackingAuth

_gc_lock = threading.Lock()
_gc_pauses = 0  # reads in progress that paused the cyclic garbage collector
_gc_was_enabled = False


class _MaskingClient(MlflowClient):
    """MLflow's client, with every param and tag value it writes passed through `mask_secrets`."""

    def create_run(self, experiment_id: str, start_time: int | None = None, tags: dict[str, Any] | None = None,
                   run_name: str | None = None) -> Any:
        return super().create_run(experiment_id, start_time, _masked(tags), mask_secrets(run_name) if run_name else run_name)

    def create_experiment(self, name: str, artifact_location: str | None = None, tags: dict[str, Any] | None = None) -> str:
        return super().create_experiment(name, artifact_location, _masked(tags))

    def set_experiment_tag(self, experiment_id: str, key: str, value: Any) -> None:
        super().set_experiment_tag(experiment_id, key, mask_secrets(str(value)))

    def set_tag(self, run_id: str, key: str, value: Any, synchronous: bool | None = None) -> Any:
        return super().set_tag(run_id, key, mask_secrets(str(value)), synchronous=synchronous)

    def log_param(self, run_id: str, key: str, value: Any, synchronous: bool | None = None) -> Any:
        return super().log_param(run_id, key, mask_secrets(str(value)), synchronous=synchronous)

    def log_batch(self, run_id: str, metrics: Sequence[Any] = (), params: Sequence[Param] = (),
                  tags: Sequence[RunTag] = (), synchronous: bool | None = None) -> Any:
        params = [Param(param.key, mask_secrets(str(param.value))) for param in params]
        tags = [RunTag(tag.key, mask_secrets(str(tag.value))) for tag in tags]
        return super().log_batch(run_id, metrics, params, tags, synchronous=synchronous)


def _masked(tags: dict[str, Any] | None) -> dict[str, Any] | None:
    return None if tags is None else {key: mask_secrets(str(value)) for key, value in tags.items()}


def client_for(tracking_uri: str, *, must_exist: bool = False) -> MlflowClient:
    """An MlflowClient for `tracking_uri`; a store it cannot open raises ArenaError naming it (password masked).

    A writer (`must_exist=False`) gets a SQLite store's folder created, so its first run creates the
    store; a reader (`must_exist=True`) gets an ArenaError for a missing SQLite file, never a new empty store.
    A server or database is checked to answer the first time this process opens it (`services.py`).
    """
    if tracking_uri.startswith("sqlite:///"):
        path = Path(tracking_uri.removeprefix("sqlite:///"))
        if must_exist and not path.is_file():
            raise ArenaError(f"no MLflow tracking store at {path}: nothing has been trained with this tracking URI yet")
        if not must_exist:
            path.parent.mkdir(parents=True, exist_ok=True)
    # Signed in as MLflow's client will be: MLflow reads its MLFLOW_TRACKING_* variables from this environment.
    require_tracking_store(tracking_uri, TrackingAuth.from_environment(os.environ, tracking_uri))
    try:
        return _MaskingClient(tracking_uri=tracking_uri)
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
