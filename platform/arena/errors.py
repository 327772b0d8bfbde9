"""Errors a user can fix: the CLI prints them as one clear message and exits with code 2."""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Sequence

_URI_PASSWORD = re.compile(r"(?P<head>\b[A-Za-z][A-Za-z0-9+.-]*://[^\s:/@]*:)(?P<password>[^\s@/]+)(?=@)")
"""The password of a `scheme://user:password@host` URI, wherever it stands in a text."""
_SECRET_FIELD = re.compile(r"(?P<head>(?:password|passwd|token|secret)=)(?P<password>[^\s&;'\"]+)", re.IGNORECASE)
"""A `password=...` or `token=...` pair (URI query strings, libpq connection strings)."""


def mask_secrets(text: str) -> str:
    """`text` with every URI password and password=/token= value replaced by ***, for anything shown or logged."""
    return _SECRET_FIELD.sub(r"\g<head>***", _URI_PASSWORD.sub(r"\g<head>***", text))


class ArenaError(Exception):
    """An input or environment problem the user can fix (bad spec, unknown model, missing data).

    Its message never carries a password: a URI in it is shown masked.
    """

    exit_code = 2

    def __init__(self, message: str = "") -> None:
        super().__init__(mask_secrets(str(message)))


_PROBLEMS_SHOWN = 20
"""A spec with more problems than this is not a spec: the rest are counted, not listed."""


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
        lines += [f"  - {problem}" for problem in self.problems[:_PROBLEMS_SHOWN]]
        if len(self.problems) > _PROBLEMS_SHOWN:
            lines.append(f"  ... and {len(self.problems) - _PROBLEMS_SHOWN} more")
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
