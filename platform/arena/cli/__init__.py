"""The `arena` command: parse, call one function of the layer below, print, set the exit code.

Each room of commands registers itself on the one Typer app (`arena.cli.base.app`) when imported.
"""

from __future__ import annotations

import logging
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
    _exit(code if isinstance(code, int) else 0)


FAST_EXIT_COMMANDS = {"train"}
"""Commands whose finished process skips the interpreter's teardown (see `_exit`)."""


def _exit(code: int) -> None:
    """Exit with `code`. A finished `arena train` process skips the interpreter's teardown.

    Tearing down torch, Ray Train and MLflow's modules takes the process 1-2 s after the run is closed,
    checkpoints uploaded and Ray shut down, and saves nothing: the output is flushed here instead. Only
    the `arena` process itself does this (not a test or program that calls `main`), and only for a
    command that builds no dataset in the driver (multiprocessing's tracker would report its semaphores).
    """
    main_module = sys.modules.get("__main__")
    spec = getattr(main_module, "__spec__", None)
    is_arena = (spec.name in {"arena.cli", "arena.cli.__main__"} if spec is not None
                else os.path.basename(getattr(main_module, "__file__", "") or "") == "arena")
    if code == 0 and is_arena and len(sys.argv) > 1 and sys.argv[1] in FAST_EXIT_COMMANDS:
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)
    sys.exit(code)
