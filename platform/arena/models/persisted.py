"""Models a search saved as JSON documents under $ARENA_HOME/models/<prefix>/ (scaled:, nas:).

The folder is the host's copy: a search publishes each document to MLflow and every other host
caches it here before it resolves the name (`training/grown_models.py`). This module only reads and
writes the folder.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path
from typing import Any, Generic, TypeVar

from arena.atomic_files import write_text_atomically
from arena.errors import ArenaError

_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.+-]*")
"""A saved model's id is a plain file name: no folders, no leading dot."""
_FIELD_TYPES: dict[str, tuple[type, ...]] = {"str": (str,), "int": (int,), "float": (int, float), "dict[str, Any]": (dict,)}
Record = TypeVar("Record")


class CorruptDocument(ArenaError):
    """A saved model whose JSON document cannot be read back (truncated, hand-edited, foreign)."""


def document_path(folder: Path, prefix: str, name: str) -> Path | None:
    """Where `prefix:<id>` is saved; None for an id that is not a plain file name (a path, a dot, a NUL)."""
    model_id = name.removeprefix(prefix + ":")
    return folder / f"{model_id}.json" if _ID.fullmatch(model_id) else None


def write_document(path: Path, document: dict[str, Any]) -> Path:
    """Write `document` as JSON atomically (a Ray worker may be reading the file at the same moment): fsynced,
    with the umask's mode, and on a failure the previous file kept and no temp left."""
    return write_text_atomically(path, json.dumps(document, indent=2) + "\n")


def read_document(path: Path | None) -> dict[str, Any] | None:
    """The JSON object at `path`; None when there is none; CorruptDocument when it cannot be read."""
    if path is None or not path.is_file():
        return None
    try:
        document = json.loads(path.read_bytes().decode("utf-8"))
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as error:
        raise CorruptDocument(f"saved model {path} cannot be read: {error}") from None
    if not isinstance(document, dict):
        raise CorruptDocument(f"saved model {path} cannot be read: expected a JSON object, got {type(document).__name__}")
    return document


def record_from_document(record_type: type[Record], document: dict[str, Any], source: str) -> Record:
    """Build a saved-model dataclass from its document, checking every field's presence and type."""
    known = {field.name: field for field in fields(record_type)}
    problems = [f"{key}: unknown key" for key in document if key not in known]
    for name, field in known.items():
        if name not in document:
            if field.default is MISSING:
                problems.append(f"{name}: required field is missing")
            continue
        value, kind = document[name], str(field.type)
        if value is None and kind.endswith(" | None"):
            continue
        valid = _FIELD_TYPES[kind.removesuffix(" | None")]
        if isinstance(value, bool) or not isinstance(value, valid):
            problems.append(f"{name}: expected {kind}, got {value!r}")
    if problems:
        raise CorruptDocument(f"saved model {source} is corrupt: {'; '.join(problems)}")
    return record_type(**document)


def document_names(folder: Path, prefix: str) -> list[str]:
    """`prefix:<id>` for every saved document in `folder` (temporary files excluded)."""
    if not folder.is_dir():
        return []
    return sorted(f"{prefix}:{path.stem}" for path in folder.glob("*.json") if _ID.fullmatch(path.stem))


def _built_from_nothing(record: Any) -> tuple[str, ...]:
    return ()


@dataclass(frozen=True)
class SavedModels(Generic[Record]):
    """One namespace's saved models: `<home>/models/<prefix>/<id>.json`, each a `record_type` dataclass."""

    prefix: str
    record_type: type[Record]
    built_from: Callable[[Record], tuple[str, ...]] = field(default=_built_from_nothing)
    """The other saved models (any namespace) a record is built from: a scaled model's nas: base."""

    def folder(self, home: Path) -> Path:
        """Where this namespace's models of an arena home live."""
        return home / "models" / self.prefix

    def save(self, name: str, document: dict[str, Any], home: Path) -> Path:
        """Write the model's document (atomically: a worker may read it at the same moment); return its path."""
        path = document_path(self.folder(home), self.prefix, name)
        if not name.startswith(self.prefix + ":") or path is None:
            raise ValueError(f"{self.prefix} model names look like {self.prefix}:<id>, got {name!r}")
        return write_document(path, document)

    def load(self, name: str, home: Path) -> Record | None:
        """Read a saved model; None when there is none of that name."""
        document = read_document(document_path(self.folder(home), self.prefix, name))
        return None if document is None else record_from_document(self.record_type, document, name)

    def names(self, home: Path) -> list[str]:
        """Every saved model name of this namespace under `home`."""
        return document_names(self.folder(home), self.prefix)

    def document(self, name: str, home: Path) -> dict[str, Any] | None:
        """The saved document of `name`, checked field by field (what a search publishes); None when there is none."""
        document = read_document(document_path(self.folder(home), self.prefix, name))
        if document is not None:
            record_from_document(self.record_type, document, name)
        return document

    def keep(self, name: str, document: dict[str, Any], home: Path) -> bool:
        """Make `document` (published elsewhere) the saved copy of `name`; True when the copy changed.

        The document is checked field by field first, so a bad one never replaces a good copy.
        """
        record_from_document(self.record_type, document, name)
        path = document_path(self.folder(home), self.prefix, name)
        try:
            current = read_document(path)
        except CorruptDocument:  # a damaged copy is what a fresh one replaces
            current = None
        if current == document:
            return False
        self.save(name, document, home)
        return True

    def bases(self, name: str, home: Path) -> tuple[str, ...]:
        """The saved models `name`'s saved copy is built from (none when it has no copy)."""
        record = self.load(name, home)
        return () if record is None else self.built_from(record)
