"""Files and folders written whole or not at all: a temp name in the same folder, fsynced, then renamed.

A write that fails part way (a full disk, an interrupt) leaves the previous file or folder as it was and
no temp behind; a reader at the same moment sees the old one or the new one, never a torn one. New files
get the mode the umask gives (0666 less the umask), as `open` would, not the 0600 of `mkstemp`.

    write_text_atomically(path, text)
    with atomic_path(folder / "checkpoint.pt") as temporary:   # for writers that want a path (torch.save)
        torch.save(state, temporary)
    copy_folder_atomically(source, target)                     # a whole folder: temp copy, fsync, rename
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path


def temporary_name(target: Path) -> Path:
    """A fresh, hidden name beside `target` for its temp file or folder."""
    return target.with_name(f".{target.name}.{secrets.token_hex(6)}.partial")


@contextlib.contextmanager
def atomic_path(target: Path) -> Iterator[Path]:
    """A new empty file beside `target` to write; on a clean exit it is fsynced and renamed over `target`."""
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = _create_empty(target)
    try:
        yield temporary
        _fsync_file(temporary)
        os.replace(temporary, target)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    fsync_folder(target.parent)


def write_bytes_atomically(target: Path, data: bytes) -> Path:
    """Write `data` to `target` whole or not at all; return `target`."""
    with atomic_path(target) as temporary:
        _write_all(temporary, data)
    return target


def write_text_atomically(target: Path, text: str, encoding: str = "utf-8") -> Path:
    """Write `text` to `target` whole or not at all; return `target`."""
    return write_bytes_atomically(target, text.encode(encoding))


def copy_folder_atomically(source: Path, target: Path) -> Path:
    """Copy the folder `source` to `target` (replacing one already there) whole or not at all; return `target`."""
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = temporary_name(target)
    try:
        shutil.copytree(source, temporary)
        for path in sorted(temporary.rglob("*"), reverse=True):  # files before the folders holding them
            if path.is_file() and not path.is_symlink():
                _fsync_file(path)
            elif path.is_dir():
                fsync_folder(path)
        fsync_folder(temporary)
        _move_into_place(temporary, target)
    except BaseException:
        shutil.rmtree(temporary, ignore_errors=True)
        raise
    fsync_folder(target.parent)
    return target


def fsync_folder(folder: Path) -> None:
    """Make a rename or a new entry in `folder` durable (a no-op where folders cannot be opened)."""
    try:
        descriptor = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:  # some file systems refuse fsync on a folder; the rename itself is still atomic
        pass
    finally:
        os.close(descriptor)


def _create_empty(target: Path) -> Path:
    """Create a new file beside `target` with O_EXCL and the umask's mode; return its path."""
    while True:
        temporary = temporary_name(target)
        try:
            os.close(os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
        except FileExistsError:  # 48 random bits taken: try another
            continue
        return temporary


def _write_all(path: Path, data: bytes) -> None:
    """Write `data` into the (empty) file at `path`."""
    with path.open("wb") as stream:
        stream.write(data)


def _fsync_file(path: Path) -> None:
    """Flush a file's contents to disk."""
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _move_into_place(folder: Path, target: Path) -> None:
    """Rename `folder` to `target`; an existing `target` is first moved aside, then removed."""
    if not target.exists():
        folder.rename(target)
        return
    aside = temporary_name(target)
    target.rename(aside)
    try:
        folder.rename(target)
    except BaseException:
        aside.rename(target)  # put the previous one back
        raise
    shutil.rmtree(aside, ignore_errors=True)
