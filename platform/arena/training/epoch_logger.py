"""MLflow gets each epoch from the Ray Train controller, once Ray Train has registered its checkpoint.

Logged any earlier (from the worker, before its report), an epoch could be trained again by a retry
that restarts from the previous checkpoint, and MLflow would keep the numbers of the attempt that
training did not continue from. The controller calls user callbacks after its checkpoint manager has
registered the report, and before Tune's callback, so a scheduler that stops a trial on a report
finds the epoch logged.
"""

from __future__ import annotations

from typing import Any

import ray.train


class EpochLogger(ray.train.UserCallback):
    """Log each reported epoch (rank 0's metrics) to MLflow run `run_id` once its checkpoint is registered."""

    def __init__(self, tracking_uri: str, run_id: str) -> None:
        self.tracking_uri, self.run_id = tracking_uri, run_id

    def after_report(self, run_context: Any, metrics: list[dict[str, Any]], checkpoint: Any) -> None:
        row = metrics[0] if metrics else {}
        if checkpoint is not None and "epoch" in row:
            from arena.tracking import run_log

            run_log.log_epochs(self.tracking_uri, self.run_id, [row])
