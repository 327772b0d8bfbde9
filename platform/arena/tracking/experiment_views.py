"""How MLflow's UI presents arena's experiments: their kind, and a runs table that reads as a leaderboard.

Both live in experiment tags, which MLflow 3.17's UI reads:

- `mlflow.experimentKind` is the experiment's own kind; `custom_model_development` is the value the
  UI labels "Machine learning" (the other is `genai_development`). arena sets it on the experiments
  it creates or writes to, unless the user chose a kind already.
- `mlflow.sharedViewState.<id>` holds a saved view of the runs table (the UI's "Views" menu; the
  address `.../runs?viewStateShareKey=<id>` opens it): the search, the sort and the columns shown.
  The value is the UI's envelope `{"name", "createdAt", "updatedAt", "state"}` where `state` is the
  JSON of the search facets (`searchFilter`, `orderByKey`, `orderByAsc`) and of the table's
  `selectedColumns`, each column named `<type>.`<key>`` with type attributes, params, metrics or tags.

By default MLflow's runs table shows Run Name, Created and Duration and the attributes Source, Models
and Dataset, newest run first; metrics, params and tags stay hidden until picked under "Columns".
arena's view, "Leaderboard", shows the trained runs (arena.kind = train), best val top-1 error first,
with family, dataset, params, gflops and best val top-1/top-5 error. Params are text in MLflow and
sort as text, so the numbers a user sorts by are metrics (see `summary_metrics`).
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping

KIND_TAG = "mlflow.experimentKind"
MODEL_TRAINING_KIND = "custom_model_development"
SAVED_VIEW_TAG_PREFIX = "mlflow.sharedViewState."
LEADERBOARD_VIEW = "arena-leaderboard"
LEADERBOARD_VIEW_NAME = "Leaderboard"

BEST_TOP1 = "best_val_top1_error"
BEST_TOP5 = "best_val_top5_error"
# The model's size, logged as params (text, docs/mlflow.md) and again as metrics, which MLflow sorts as numbers.
SIZE_METRICS = ("model.params", "model.gflops")
LEADERBOARD_COLUMNS = (
    "tags.`arena.family`", "tags.`arena.dataset`", "metrics.`model.params`", "metrics.`model.gflops`",
    f"metrics.`{BEST_TOP1}`", f"metrics.`{BEST_TOP5}`",
)
LEADERBOARD_STATE = {
    "searchFilter": "tags.`arena.kind` = 'train'",
    "orderByKey": f"metrics.`{BEST_TOP1}`",
    "orderByAsc": True,
    "selectedColumns": list(LEADERBOARD_COLUMNS),
}


def experiment_tags(current: Mapping[str, str], *, leaderboard_view: bool, now_ms: int | None = None) -> dict[str, str]:
    """The tags to set on an experiment whose tags are `current`: its kind, and arena's saved view when asked."""
    wanted: dict[str, str] = {}
    if not current.get(KIND_TAG):
        wanted[KIND_TAG] = MODEL_TRAINING_KIND
    if leaderboard_view:
        key = SAVED_VIEW_TAG_PREFIX + LEADERBOARD_VIEW
        envelope = _envelope(current.get(key))
        state = json.dumps(LEADERBOARD_STATE, sort_keys=True)
        if envelope is None or envelope.get("state") != state or envelope.get("name") != LEADERBOARD_VIEW_NAME:
            now = now_ms if now_ms is not None else int(time.time() * 1000)
            created = envelope.get("createdAt") if envelope and isinstance(envelope.get("createdAt"), int) else now
            wanted[key] = json.dumps({"name": LEADERBOARD_VIEW_NAME, "createdAt": created, "updatedAt": now, "state": state})
    return wanted


def summary_metrics(params: Mapping[str, object], history: list[Mapping[str, float]] | None = None) -> dict[str, float]:
    """The sortable figures of a run: its size from `params`, its best val errors over the epochs of `history`."""
    figures: dict[str, float] = {}
    for key in SIZE_METRICS:
        try:
            figures[key] = float(params[key])  # type: ignore[arg-type]
        except (KeyError, TypeError, ValueError):
            continue
    for key, source in ((BEST_TOP1, "val_top1_error"), (BEST_TOP5, "val_top5_error")):
        values = [float(row[source]) for row in history or [] if row.get(source) is not None]
        if values:
            figures[key] = min(values)
    return figures


def _envelope(value: str | None) -> dict | None:
    """A saved view's envelope, None when absent or not arena's JSON."""
    if not value:
        return None
    try:
        parsed = json.loads(value)
    except json.JSONDecodeError:
        return None
    return parsed if isinstance(parsed, dict) else None
