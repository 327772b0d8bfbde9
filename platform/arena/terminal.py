"""What the `arena` command prints to the terminal: its two consoles and its one-line errors.

No console reads rich markup: names (a run called "[/x]") and arena's own text ("[conv1x1 > conv3x3]")
print as they are; styling goes through `rich.text.Text`.
"""

from __future__ import annotations

import errno
import sys
from collections.abc import Iterable

import typer
from rich.console import Console
from rich.segment import Segment
from rich.text import Text

from arena.errors import mask_secrets



class _MaskingConsole(Console):
    """A rich Console whose every write passes through `mask_secrets`: no printer can show a password."""

    def _render_buffer(self, buffer: Iterable[Segment]) -> str:
        return mask_secrets(super()._render_buffer(buffer))


# A pipe or a log gets wide tables instead of rich's 80-column default.
out = _MaskingConsole(soft_wrap=True, width=None if sys.stdout.isatty() else 160, markup=False)
err = _MaskingConsole(stderr=True, soft_wrap=True, markup=False)


def print_error(message: str) -> None:
    """One `error: ...` line on stderr; the message is shown as is, never read as rich markup."""
    err.print(Text.assemble(("error:", "bold red"), " ", mask_secrets(message)), highlight=False, soft_wrap=True)


USER_FIXABLE_ERRNOS = {errno.ENOENT, errno.ENOTDIR, errno.EISDIR, errno.EACCES, errno.EPERM, errno.EROFS, errno.EEXIST}


def os_error_line(error: OSError) -> str:
    """An OSError as `what went wrong: the path`, without Python's [Errno N] prefix."""
    paths = [str(path) for path in (error.filename, error.filename2) if path is not None]
    return f"{error.strerror or error}: {' -> '.join(paths)}" if paths else str(error.strerror or error)


def usage_error_line(error: typer.TyperException) -> str:
    """A usage error (unknown command or option, bad value) as one line that says where to look."""
    message = error.format_message().strip().replace("\n", " ")
    context = getattr(error, "ctx", None)
    if context is not None:
        return f"{message} (see '{context.command_path} --help')"
    return message
