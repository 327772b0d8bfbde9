"""A finished `arena train` process leaves without the interpreter's teardown; nothing else does."""

from __future__ import annotations

import sys
import types

import pytest

from arena import cli


class LeftAtOnce(Exception):
    pass


@pytest.fixture
def exits(monkeypatch):
    left: list[int] = []

    def leave(code: int) -> None:
        left.append(code)
        raise LeftAtOnce

    monkeypatch.setattr(cli.os, "_exit", leave)
    return left


def as_arena_command(monkeypatch, *argv: str) -> None:
    main_module = types.ModuleType("__main__")
    main_module.__spec__ = types.SimpleNamespace(name="arena.cli.__main__")
    monkeypatch.setitem(sys.modules, "__main__", main_module)
    monkeypatch.setattr(sys, "argv", ["arena", *argv])


def test_a_finished_arena_train_skips_the_teardown(monkeypatch, exits) -> None:
    as_arena_command(monkeypatch, "train", "jobs/demo/resnet18.yaml")
    with pytest.raises(LeftAtOnce):
        cli._exit(0)
    assert exits == [0]


@pytest.mark.parametrize(("argv", "code"), [(("train", "x.yaml"), 1), (("eval", "run"), 0), (("train", "x.yaml"), 2)])
def test_failures_and_other_commands_exit_the_ordinary_way(monkeypatch, exits, argv, code) -> None:
    as_arena_command(monkeypatch, *argv)
    with pytest.raises(SystemExit) as exited:
        cli._exit(code)
    assert exited.value.code == code and exits == []


def test_a_program_calling_main_is_never_cut_short(monkeypatch, exits) -> None:
    monkeypatch.setattr(sys, "argv", ["arena", "train", "x.yaml"])  # the __main__ here is pytest's
    with pytest.raises(SystemExit):
        cli._exit(0)
    assert exits == []
