"""What every search's result prints: the note on what the trials were ranked on, numbers, tables, status counts."""

from __future__ import annotations

import io
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.table import Table

STATUSES = ("completed", "stopped", "failed")
"""A trial's possible ends (`trials.TrialStatus`), in the order results count them."""


@dataclass(frozen=True, kw_only=True)
class TrialEnd:
    """How a trial ended: what every search's trial row carries after its own columns."""

    status: str
    """completed, stopped (by the scheduler), failed."""
    epochs: int
    run_id: str | None


@dataclass(frozen=True, kw_only=True)
class PricedOut:
    """Why a candidate never trained: its counted size and the budget limits it broke."""

    params: int
    gflops: float
    reasons: tuple[str, ...]


@dataclass(frozen=True, kw_only=True)
class WinnerOnVal:
    """What every search's result says of how it chose: on held-out train images, val/ kept for the winner."""

    holdout: int = 0
    """How many train images the trials were ranked on (held out of train); val/ was not used."""
    winner_val_top1_error: float | None = None
    """The winner's top-1 error on val/, measured once the search has chosen (the only val figure it reports)."""


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


def table(title: str, columns: Sequence[str], left: Collection[str], rows: Iterable[Sequence[str]]) -> Table:
    """A table of `rows` under `columns`, numbers right-aligned and the columns in `left` left-aligned."""
    from rich.table import Table

    made = Table(title=title)
    for column in columns:
        made.add_column(column, justify="left" if column in left else "right")
    for row in rows:
        made.add_row(*row)
    return made


def render_text(parts: Iterable[str | Table | None], width: int) -> str:
    """Lines and tables as plain text `width` columns wide (no colour, no markup); None parts are skipped."""
    from rich.console import Console

    buffer = io.StringIO()
    console = Console(file=buffer, width=width, force_terminal=False, color_system=None, markup=False)
    for part in parts:
        if part is not None:
            console.print(part)
    return buffer.getvalue()
