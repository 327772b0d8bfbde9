"""Errors a user can fix: the CLI prints them as one clear message and exits with code 2."""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

_URI_PASSWORD = re.compile(r"(?P<head>\b[A-Za-z][A-Za-z0-9+.-]*://[^\s:/?#@]*:)(?P<secret>\S*(?=@\S)|[^@\n]*(?=@))")
"""The password of a `scheme://user:password@host` URI wherever it stands in a text: everything up to the
host's `@` (the last one in the URI), `/`, `:` and spaces included: SQLAlchemy accepts a raw `/` and a space."""
_SECRET_NAME = r"[\w.-]*(?:password|passwd|pwd|token|secret)[\w.-]*"
"""A name that says its value is secret: `password`, `sslpassword`, `MLFLOW_TRACKING_PASSWORD`, `access_token`, ..."""
_SECRET_FIELD = re.compile(
    rf"(?P<head>(?<![\w.-])(?:{_SECRET_NAME}|(?<=[?&;])(?:[\w.-]*[_.-])?(?:key|apikey|sig|signature|auth|credentials?)(?=\=))=)"
    r"(?P<secret>[^\s&;'\"]+)",
    re.IGNORECASE,
)
"""`NAME=value` where NAME says it is secret (libpq strings, variables, query parameters), and in a URI's query
string any parameter named `key`, `sig`, `signature`, `auth` or `credential`, alone or after a `_`, `-` or `.`
(`?key=`, `&api_key=`, Azure's `sig=`, S3's `X-Amz-Signature=`), and `apikey`; not a name that merely ends
so (MLflow's `viewStateShareKey` names a saved view, not a secret)."""
_AUTHORIZATION = re.compile(r"(?P<head>\b(?:Bearer|Basic)\s+)(?P<secret>[A-Za-z0-9._~+/=-]{8,})")
"""The credentials of an HTTP Authorization header."""
_SECRET_KEY = re.compile(rf"^{_SECRET_NAME}$|^(?:[\w.-]*_key|apikey|authorization|credentials?)$", re.IGNORECASE)
"""A mapping key (a JSON field, a variable name) whose value is secret as a whole."""
SECRET_VARIABLES = ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD", "MLFLOW_TRACKING_TOKEN", "RAY_AUTH_TOKEN")
"""Variables that hold credentials as a whole: they never travel with a job and are never shown."""


def mask_secrets(text: str) -> str:
    """`text` with every secret replaced by ***: the one detector for everything arena shows, logs or sends.

    It masks a URI's `user:password@` password whatever characters it holds, a `password=`, `token=`,
    `secret=` or similar value (query strings, libpq strings, `MLFLOW_TRACKING_PASSWORD=...`), a
    query's `key=`-style parameter, and an Authorization header's credentials.
    """
    for pattern in (_URI_PASSWORD, _SECRET_FIELD, _AUTHORIZATION):
        text = pattern.sub(r"\g<head>***", text)
    return text


def holds_secret(text: str) -> bool:
    """True when `text` holds anything `mask_secrets` would mask."""
    return mask_secrets(text) != text


def is_secret_name(name: str) -> bool:
    """True for a key or variable whose value is a secret as a whole (`password`, `MLFLOW_TRACKING_TOKEN`, `api_key`)."""
    return name in SECRET_VARIABLES or _SECRET_KEY.match(name) is not None


def mask_json(payload: Any) -> Any:
    """A JSON-ready value with every secret masked: strings through `mask_secrets`, a secret-named key's value as ***."""
    if isinstance(payload, str):
        return mask_secrets(payload)
    if isinstance(payload, Mapping):
        return {key: "***" if isinstance(key, str) and is_secret_name(key) and payload[key] else mask_json(value)
                for key, value in payload.items()}
    if isinstance(payload, (list, tuple)):
        return [mask_json(item) for item in payload]
    return payload


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
