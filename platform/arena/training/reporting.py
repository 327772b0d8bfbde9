"""The one place that decides how the training function reports an epoch and finds its checkpoint.

Ray Train V2 runs the same function (`arena.training.worker.train_worker`) three ways:

- `train`: a worker group of a `TorchTrainer`. `ray.train.report` hands each checkpoint to Train,
  which persists it under ARENA_STORAGE/<run id>/ and restarts a lost worker group from it.
- `tune`: local mode (`num_workers=0`) inside a Tune trial's actor. Ray refuses `ray.train.report`
  in a Tune session (Ray issue #49454), so the epoch goes to `ray.tune.report`, with the search's own
  metric added; Tune persists the trial's checkpoints and restores a failed trial from them.
- `local`: local mode in a long-lived lane actor (single-worker jobs, see `arena.training.lanes`).
  Local mode keeps no checkpoints, so arena persists them itself, in the same place and layout
  Train uses (ARENA_STORAGE/<run id>/epoch_NNNN, the last two kept): `--resume` finds them there.
  On a local or mounted ARENA_STORAGE the folder is copied under a temp name, fsynced and renamed, so
  a full disk never leaves a torn newest checkpoint; a bucket stores each object whole.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from arena.atomic_files import copy_folder_atomically
from arena.errors import ArenaError
from arena.training.checkpoint import Checkpoint
from arena.training.scratch import close_checkpoint_folder, open_checkpoint_folder, scratch_folder

ReportTo = Literal["train", "tune", "local"]
CHECKPOINT_PREFIX = "epoch_"
"""The folder of one checkpoint under ARENA_STORAGE/<run id>/ is epoch_NNNN (Ray Train's and arena's alike)."""
CHECKPOINTS_KEPT = 2
"""Checkpoints kept per run, as `CheckpointConfig(num_to_keep=2)` keeps them for a worker group."""
log = logging.getLogger(__name__)


def checkpoint_name(epoch: int) -> str:
    """The folder of the checkpoint taken after `epoch` (Train's `checkpoint_dir_name` too)."""
    return f"{CHECKPOINT_PREFIX}{epoch:04d}"


@dataclass
class Reporter:
    """Reports epochs, and finds the checkpoint to resume from, the way this run's mode needs."""

    to: ReportTo
    storage: str = ""
    run_id: str = ""
    score: Callable[[Mapping[str, Any]], Mapping[str, float]] | None = None
    """Local mode in a Tune trial: adds the search's own metric (say, the NAS reward) to each report."""

    def rank_and_world(self) -> tuple[int, int]:
        """(this worker's rank, the number of workers)."""
        if self.to == "tune":
            return 0, 1
        import ray.train

        context = ray.train.get_context()
        return context.get_world_rank(), context.get_world_size()

    def latest_checkpoint(self) -> Any:
        """The newest checkpoint to resume from (a `ray.train.Checkpoint`), or None for a fresh start."""
        if self.to == "tune":
            import ray.tune

            return ray.tune.get_checkpoint()
        import ray.train

        if self.to == "train":
            return ray.train.get_checkpoint()
        filesystem, run_folder = run_storage(self.storage, self.run_id)
        found = checkpoint_folders(filesystem, run_folder)
        return ray.train.Checkpoint(found[-1], filesystem=filesystem) if found else None

    def report(
        self, metrics: dict[str, Any], epoch: int, write: Callable[[Path], None] | None,
        log_epoch: Callable[[], None] | None = None,
    ) -> None:
        """Report one epoch; `write(folder)` saves its checkpoint and `log_epoch()` logs it to MLflow (rank 0 only).

        When the epoch reaches MLflow: on a worker group, the driver's `EpochLogger` logs it once
        Train has registered its checkpoint (`log_epoch` is not called here); in a lane, right after
        its checkpoint is stored; in a Tune trial, just before the report, since the scheduler may
        stop the trial as soon as it sees it.
        """
        if write is None:
            import ray.train

            ray.train.report(metrics, checkpoint=None)
            return
        if self.to == "tune":
            if log_epoch is not None:
                log_epoch()
            self._report_to_tune(metrics, write)
            return
        folder = open_checkpoint_folder()
        try:
            write(folder)
            if self.to == "train":
                import ray.train

                ray.train.report(metrics, checkpoint=ray.train.Checkpoint.from_directory(str(folder)),
                                 checkpoint_dir_name=checkpoint_name(epoch))
                return
            self._persist(folder, epoch)
        finally:
            close_checkpoint_folder(folder)
        if log_epoch is not None:
            log_epoch()

    def _report_to_tune(self, metrics: dict[str, Any], write: Callable[[Path], None]) -> None:
        import ray.tune

        # Tune copies the checkpoint into the trial's storage before `report` returns; the scheduler
        # may stop the trial inside it, and then the folder is removed by this process's next report
        # or, once the process is gone, by the next folder made on this host (`scratch`).
        folder = open_checkpoint_folder()
        try:
            write(folder)
            scored = {**metrics, **(self.score(metrics) if self.score else {})}
            ray.tune.report(scored, checkpoint=ray.tune.Checkpoint.from_directory(str(folder)))
        finally:
            close_checkpoint_folder(folder)

    def _persist(self, folder: Path, epoch: int) -> None:
        from pyarrow import fs

        filesystem, run_folder = run_storage(self.storage, self.run_id)
        target = f"{run_folder}/{checkpoint_name(epoch)}"
        if isinstance(filesystem, fs.LocalFileSystem):  # a temp name beside it, fsynced, renamed: never a torn epoch_NNNN
            copy_folder_atomically(folder, Path(target))
        else:  # a bucket has no rename; each object lands whole, and readers skip a folder whose file is missing
            filesystem.create_dir(target, recursive=True)
            fs.copy_files(str(folder), target, source_filesystem=fs.LocalFileSystem(), destination_filesystem=filesystem)
        for old in checkpoint_folders(filesystem, run_folder)[:-CHECKPOINTS_KEPT]:
            filesystem.delete_dir(old)



def run_storage(storage: str, run_id: str) -> tuple[Any, str]:
    """The pyarrow filesystem of `storage` (a path or a bucket URI) and the folder of `run_id`'s checkpoints in it."""
    from pyarrow import fs

    from arena.training.storage import is_remote_uri, local_path

    if is_remote_uri(storage):
        filesystem, root = fs.FileSystem.from_uri(storage)
    else:
        filesystem, root = fs.LocalFileSystem(), str(local_path(storage).resolve())
    return filesystem, f"{root}/{run_id}"


def checkpoint_folders(filesystem: Any, run_folder: str) -> list[str]:
    """The run's `epoch_NNNN` checkpoint folders under `run_folder`, oldest first."""
    from pyarrow import fs

    entries = filesystem.get_file_info(fs.FileSelector(run_folder, allow_not_found=True))
    return sorted(e.path for e in entries if e.type == fs.FileType.Directory and e.base_name.startswith(CHECKPOINT_PREFIX))


def copy_latest_checkpoint(storage: str, run_id: str) -> Path | None:
    """A private copy of the newest complete checkpoint arena persisted for `run_id` (local mode), or None.

    As resume does, a checkpoint that cannot be read (its file missing, torn or foreign) is skipped with a
    warning for the one before it.
    """
    from pyarrow import fs

    filesystem, run_folder = run_storage(storage, run_id)
    for folder in reversed(checkpoint_folders(filesystem, run_folder)):
        copy = scratch_folder("final")
        try:
            fs.copy_files(folder, str(copy), source_filesystem=filesystem, destination_filesystem=fs.LocalFileSystem())
            Checkpoint.load(copy)
        except ArenaError as error:  # torn or incomplete: the one before may be whole
            log.warning("skipped checkpoint %s: %s", Path(folder).name, error)
            shutil.rmtree(copy, ignore_errors=True)
            continue
        except BaseException:
            shutil.rmtree(copy, ignore_errors=True)
            raise
        return copy
    return None


def reporter_from(config: Mapping[str, Any]) -> Reporter:
    """The reporter the driver chose for this run (`config["report_to"]`, default `train`)."""
    return Reporter(
        to=config.get("report_to", "train"), storage=config.get("storage", ""), run_id=config.get("run_id", ""),
        score=config.get("score"),
    )
