"""The kinds of run arena records, as their `arena.kind` tag says (docs/mlflow.md): the one list of them.

Searches, the leaderboard's sync and its page all read a run's kind; each kind is named here once.
"""

from __future__ import annotations

TRAIN = "train"
EVAL = "eval"
ENSEMBLE = "ensemble"
SCALING_SEARCH = "scaling-search"
SCALING_TRIAL = "scaling-trial"
NAS_SEARCH = "nas-search"
NAS_TRIAL = "nas-trial"

TRIAL_OF_SEARCH = {SCALING_SEARCH: SCALING_TRIAL, NAS_SEARCH: NAS_TRIAL}
"""Each search kind's parent run, and the kind of the trial runs nested in it."""

MEASURED = frozenset({TRAIN, EVAL, ENSEMBLE, SCALING_TRIAL, NAS_TRIAL})
"""The kinds whose runs measured a model, so the leaderboard lists them (and ranks those measured on VAL)."""

MEASURED_ON_TAG = "arena.measured_on"
"""The tag naming the images a run's val_* metrics were measured on: VAL or HOLDOUT."""
VAL = "val"
"""Measured on the dataset's val/ images: the figures the leaderboard ranks."""
HOLDOUT = "holdout"
"""Measured on images held out of train (`data.holdout`), as search trials are: shown, never ranked beside val."""
MEASURED_ON = (VAL, HOLDOUT)
EVALUATIONS = frozenset({EVAL, ENSEMBLE})
"""The kinds that measure a trained run on a val set (its own, or a `--data` folder's val/)."""
