"""Live progress for the user: rank 0 posts updates to a small actor; the driver prints them."""

from __future__ import annotations

import threading
import time
from typing import Any

import ray
from rich.console import Console
from rich.text import Text


@ray.remote(num_cpus=0)
class ProgressBoard:
    """Holds the latest progress of one run (epoch, step, images/s, finished epochs)."""

    def __init__(self) -> None:
        self.latest: dict[str, Any] = {}
        self.epochs: list[dict[str, Any]] = []

    def update(self, update: dict[str, Any]) -> None:
        if "epoch_done" in update:
            self.epochs.append(update["epoch_done"])
        elif "resumed_after" in update or "warning" in update:  # from a (re)started rank 0, printed in order
            self.epochs.append(update)
        else:
            self.latest = update

    def read(self) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        return self.latest, self.epochs


def format_eta(seconds: float) -> str:
    """Seconds as h:mm:ss or m:ss."""
    seconds = max(0, int(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


class ProgressPrinter:
    """Polls a ProgressBoard in a thread and prints one line per change to stderr."""

    def __init__(
        self, board: Any, name: str, epochs: int, console: Console | None = None, every: float = 0.5, quiet_seconds: float = 15.0
    ) -> None:
        self.board, self.name, self.epochs, self.every = board, name, epochs, every
        # A log file gets whole lines; a run's name is printed as it is, never read as rich markup.
        self.console = console or Console(stderr=True, soft_wrap=True, markup=False)
        # A terminal gets a step line on every change; a log file one every `quiet_seconds`.
        self.quiet_seconds = 0.0 if self.console.is_terminal else quiet_seconds
        self.last_printed = 0.0
        self.first_progress: tuple[float, float] | None = None
        self.stop_event = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.printed_epochs = 0
        self.done_epoch = 0
        self.last_line = ""
        self.last_val_error: float | None = None

    def __enter__(self) -> ProgressPrinter:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop_event.set()
        self.thread.join(timeout=5)
        self._poll()

    def _run(self) -> None:
        while not self.stop_event.wait(self.every):
            self._poll()

    def _poll(self) -> None:
        try:
            latest, epochs = ray.get(self.board.read.remote(), timeout=5)
        except Exception:  # the board went away with its cluster; nothing more to show
            return
        for row in epochs[self.printed_epochs :]:
            if "warning" in row:
                self.console.print(Text.assemble((self.name, "bold"), (" warning: ", "yellow"), row["warning"]), highlight=False)
                continue
            if "resumed_after" in row:
                self.done_epoch = row["resumed_after"]
                self.console.print(Text.assemble((self.name, "bold"), f" continues from its checkpoint of epoch "
                                                 f"{self.done_epoch}/{self.epochs}"), highlight=False)
                continue
            self.done_epoch = row["epoch"]
            self.last_val_error = row["val_top1_error"]
            figures = (
                f" epoch {row['epoch']}/{self.epochs}  "
                f"train_loss {row['train_loss']:.4f}  val_loss {row['val_loss']:.4f}  "
                f"top1_err {row['val_top1_error']:.2f}%  top5_err {row['val_top5_error']:.2f}%  "
                f"{row['images_per_second']:.0f} img/s  lr {row['lr']:.3g}"
            )
            self.console.print(Text.assemble((self.name, "bold"), figures), highlight=False)
        self.printed_epochs = len(epochs)
        if latest and latest.get("epoch", 0) > self.done_epoch:
            line = self._step_line(latest)
            now = time.monotonic()
            if line != self.last_line and now - self.last_printed >= self.quiet_seconds:
                self.last_line, self.last_printed = line, now
                self.console.print(Text(line, style="dim"), highlight=False)

    def _step_line(self, latest: dict[str, Any]) -> str:
        epoch, step, steps = latest["epoch"], latest["step"], max(latest["steps"], 1)
        done_fraction = ((epoch - 1) + step / steps) / self.epochs
        now = time.monotonic()
        # Measure the rate from the first step seen, so start-up time does not inflate the ETA.
        if self.first_progress is None:
            self.first_progress = (now, done_fraction)
        start_time, start_fraction = self.first_progress
        rate = (done_fraction - start_fraction) / (now - start_time) if now > start_time else 0.0
        eta = (1 - done_fraction) / rate if rate > 0 else 0.0
        last = f"  last top1_err {self.last_val_error:.2f}%" if self.last_val_error is not None else ""
        return (
            f"{self.name} epoch {epoch}/{self.epochs} step {step}/{steps}  "
            f"{latest['images_per_second']:.0f} img/s  ETA {format_eta(eta) if rate > 0 else '?'}{last}"
        )
