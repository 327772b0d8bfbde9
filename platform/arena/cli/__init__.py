"""The `arena` command: parse, call one function of the layer below, print, set the exit code.

Each room of commands registers itself on the one Typer app (`arena.cli.base.app`) when imported.
"""

from __future__ import annotations

import os
import signal
import sys
from types import FrameType

import typer

from arena.cli import zoo, cluster, board  # noqa: F401, I001  (they register their commands, in --help order)
from arena.cli.base import app
from arena.errors import ArenaError
from arena.settings import mlflow_http_limits
from arena.terminal import USER_FIXABLE_ERRNOS, err, os_error_line, print_error, usage_error_line

__all__ = ["app", "main"]


def _stop_as_interrupt(signum: int, frame: FrameType | None) -> None:
    # `arena jobs stop` (Ray's Jobs API) ends a job's driver with SIGTERM: end as Ctrl-C does, so
    # the runs it drives are marked KILLED rather than left RUNNING.
    raise KeyboardInterrupt


def main() -> None:
    """Run the CLI; a user's mistake prints one line and exits 2, a failed run exits 1, no traceback."""
    signal.signal(signal.SIGTERM, _stop_as_interrupt)
    # The one place arena sets process defaults: MLflow's HTTP retries bounded (a server that is down
    # fails a command in seconds, not minutes), unless the user chose their own.
    os.environ.update(mlflow_http_limits(os.environ))
    try:
        # Non-standalone mode returns (not raises) the code of a typer.Exit: pass it on.
        code = app(standalone_mode=False)
    except ArenaError as error:
        print_error(str(error))
        sys.exit(error.exit_code)
    except typer.Exit as exit_:  # raised outside click's own handling (a callback, say)
        sys.exit(exit_.exit_code)
    except (typer.Abort, KeyboardInterrupt):
        err.print("aborted", highlight=False)
        sys.exit(130)
    except OSError as error:  # a path that is not there or not writable, a full disk
        print_error(os_error_line(error))
        sys.exit(2 if error.errno in USER_FIXABLE_ERRNOS else 1)
    except typer.TyperException as error:  # typer's own click: usage errors, bad parameter values
        if type(error).__name__ == "NoArgsIsHelpError":  # a bare `arena models`: its help, as click does
            error.show()
        else:
            print_error(usage_error_line(error))
        sys.exit(error.exit_code)
    sys.exit(code if isinstance(code, int) else 0)
