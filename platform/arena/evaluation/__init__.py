"""Evaluate trained runs (top-1/top-5 and per-class error, centre or 10-crop) and fuse them into ensembles.

    from arena.evaluation import EvalOptions, evaluate_run, ensemble_runs, render_evaluation
    result = evaluate_run(run_id, settings, EvalOptions(crops=10))
    print(render_evaluation(result))

Only `arena.evaluation.sharding` imports Ray, and only when a val set is split over Ray tasks.
"""

from arena.evaluation.result import ClassError, EvaluationResult, render_evaluation
from arena.evaluation.runner import SHARD_MIN_IMAGES, EvalOptions, ensemble_runs, evaluate_run

__all__ = [
    "SHARD_MIN_IMAGES",
    "ClassError",
    "EvalOptions",
    "EvaluationResult",
    "ensemble_runs",
    "evaluate_run",
    "render_evaluation",
]
