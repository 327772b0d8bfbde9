"""Names a user chose print as written: rich never reads them (or arena's own text) as markup."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from arena.leaderboard.render import render
from arena.leaderboard.views import COLUMNS
from arena.training import progress

NAMES = ["[/x]", "[bold]net[/bold]", "a [link=http://x]b", "[red"]


class FakeBoard:
    """A ProgressBoard as `ray.get(board.read.remote())` sees it: one finished epoch."""

    class _Read:
        @staticmethod
        def remote() -> tuple[dict, list[dict]]:
            row = {"epoch": 1, "train_loss": 2.0, "val_loss": 1.5, "val_top1_error": 40.0, "val_top5_error": 10.0,
                   "images_per_second": 100.0, "lr": 0.1}
            return {"epoch": 2, "step": 3, "steps": 10, "images_per_second": 90.0}, [row]

    read = _Read()


@pytest.mark.parametrize("name", NAMES)
def test_progress_printer_prints_any_run_name(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    monkeypatch.setattr(progress.ray, "get", lambda value, timeout=None: value)
    buffer = io.StringIO()
    printer = progress.ProgressPrinter(FakeBoard(), name, epochs=3, console=Console(file=buffer, width=200))
    printer._poll()  # what the printer's thread and its exit do
    lines = buffer.getvalue().splitlines()
    assert lines[0].startswith(f"{name} epoch 1/3  train_loss 2.0000")
    assert lines[1].startswith(f"{name} epoch 2/3 step 3/10")


def test_progress_printer_default_console_ignores_markup() -> None:
    printer = progress.ProgressPrinter(FakeBoard(), "[/x]", epochs=1)
    assert printer.console._markup is False


@pytest.mark.parametrize("name", NAMES)
def test_leaderboard_table_prints_any_run_name(name: str) -> None:
    row = dict.fromkeys(COLUMNS["runs"])
    row["run_name"] = name
    assert name in render([row], "table", "runs")
