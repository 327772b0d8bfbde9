"""`make bench` (benchmarks/run_all.py): --only re-measures some sections and keeps the others."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def run_all(monkeypatch):
    monkeypatch.syspath_prepend(str(REPO / "benchmarks"))
    import run_all

    measured: list[str] = []
    extras: dict[str, list[str]] = {}

    def fake_run_one(name: str, extra=()) -> str:
        measured.append(name)
        extras[name] = list(extra)
        return f"## {name} again\n\n| ratio |\n|---|\n| 0.5 |\n\n"

    monkeypatch.setattr(run_all, "run_one", fake_run_one)
    monkeypatch.setattr(run_all, "describe_machine", lambda: "a test machine")
    run_all.measured, run_all.extras = measured, extras
    return run_all


def test_only_replaces_the_named_sections_and_keeps_the_rest_in_order(run_all, tmp_path: Path, monkeypatch) -> None:
    out = tmp_path / "BENCHMARKS.md"
    out.write_text("# Benchmarks\n\nold header\n\n"
                   "<!-- bench:train_overhead -->\n## Training overhead\n\nold figure 0.86\n\n"
                   "<!-- bench:search_efficiency -->\n## search_efficiency: FAILED (exit -6)\n\n")
    monkeypatch.setattr(sys, "argv", ["run_all.py", "--only", "search_efficiency", "--out", str(out)])
    run_all.main()
    assert run_all.measured == ["search_efficiency"]
    text = out.read_text()
    assert "old figure 0.86" in text and "FAILED" not in text and "## search_efficiency again" in text
    assert text.index("bench:train_overhead") < text.index("bench:search_efficiency")
    assert "a test machine" in text and "old header" not in text
    assert run_all.read_sections(out).keys() == {"train_overhead", "search_efficiency"}


def test_a_full_run_writes_every_benchmark_afresh(run_all, tmp_path: Path, monkeypatch) -> None:
    out = tmp_path / "BENCHMARKS.md"
    out.write_text("<!-- bench:gone -->\nstale\n")
    monkeypatch.setattr(sys, "argv", ["run_all.py", "--out", str(out)])
    run_all.main()
    assert run_all.measured == list(run_all.BENCHMARKS)
    assert list(run_all.read_sections(out)) == list(run_all.BENCHMARKS) and "stale" not in out.read_text()


def test_timm_train_reaches_only_the_comparisons_with_timm(run_all, tmp_path: Path, monkeypatch) -> None:
    train_py = tmp_path / "train.py"
    train_py.write_text("# timm's train.py\n")
    out = tmp_path / "BENCHMARKS.md"
    monkeypatch.setattr(sys, "argv", ["run_all.py", "--only", "vs_timm", "leaderboard", "--timm-train", str(train_py),
                                      "--out", str(out)])
    run_all.main()
    assert run_all.extras == {"vs_timm": ["--timm-train", str(train_py)], "leaderboard": []}
