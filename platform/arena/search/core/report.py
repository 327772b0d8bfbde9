"""What every search's result prints: the note on what the trials were ranked on, numbers, status counts."""

from __future__ import annotations

from collections.abc import Iterable

STATUSES = ("completed", "stopped", "failed")
"""A trial's possible ends (`trials.TrialStatus`), in the order results count them."""


def holdout_note(holdout: int, winner_run_id: str | None, winner_val_top1_error: float | None) -> str:
    """The line that says what the trials were ranked on, and the winner's val error once measured."""
    note = f"trials ranked on {holdout:,} images held out of train; val/ was not used to choose"
    if winner_val_top1_error is not None:
        return note + f"; the winner on val/: {winner_val_top1_error:.2f}% top-1 error (run {winner_run_id})"
    return note + (f" (the winner on val/: arena eval {winner_run_id})" if winner_run_id else "")


def number(value: float | None, digits: int = 4) -> str:
    """A table cell: `value` to `digits` significant digits, or `-` when there is none."""
    return "-" if value is None else f"{value:.{digits}g}"


def status_counts(statuses: Iterable[str]) -> dict[str, int]:
    """How many trials ended each way, as the parent run's `trials_<status>` metrics."""
    ends = list(statuses)
    return {f"trials_{status}": sum(end == status for end in ends) for status in STATUSES}
