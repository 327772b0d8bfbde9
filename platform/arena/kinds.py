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
"""The kinds whose runs measured a model, so the leaderboard ranks them."""
