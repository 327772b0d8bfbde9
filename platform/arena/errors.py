"""Errors a user can fix: the CLI prints them as one clear message and exits with code 2."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence


class ArenaError(Exception):
    """An input or environment problem the user can fix (bad spec, unknown model, missing data)."""

    exit_code = 2


class SpecError(ArenaError):
    """A job spec with one or more problems, all reported together."""

    def __init__(self, problems: Sequence[str], source: str = "job spec") -> None:
        self.problems = list(problems)
        self.source = source
        super().__init__(self._render())

    def _render(self) -> str:
        if len(self.problems) == 1:
            return f"{self.source}: {self.problems[0]}"
        lines = [f"{self.source}: {len(self.problems)} problems"]
        lines += [f"  - {problem}" for problem in self.problems]
        return "\n".join(lines)


class UnknownNameError(ArenaError):
    """A name (model, run, view, ...) that is not one of the valid choices."""

    def __init__(self, kind: str, name: str, choices: Iterable[str]) -> None:
        self.kind = kind
        self.name = name
        self.choices = sorted(choices)
        close = difflib.get_close_matches(name, self.choices, n=5, cutoff=0.5)
        hint = f"; closest: {', '.join(close)}" if close else f"; valid: {', '.join(self.choices[:20])}"
        if not close and len(self.choices) > 20:
            hint += ", ..."
        super().__init__(f"unknown {kind} {name!r}{hint}")


class RunFailed(ArenaError):
    """A job that started but did not finish (a crash inside training, not bad input)."""

    exit_code = 1
