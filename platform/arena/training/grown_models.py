"""Grown models (`scaled:`, `nas:`) on every host: published to MLflow once, cached in each arena home before use.

`arena.models` resolves a grown name from the arena home's folder only (`models/persisted.py`), and
`arena.tracking.model_catalogue` holds the definitions in MLflow; neither imports the other. The two
meet here, the lowest layer that sees both:

- a search saves each model it grows in its own home, then `publish`es it (and the grown base it is
  built from, a scaled model's `nas:` base);
- whatever resolves a name first calls `make_resolvable`, which brings the published definition
  (and its grown base's) into this host's home, replacing a stale copy. `check_job` does, so
  `arena train`, a submitted job, `arena cluster check` and every search trial do; so does each
  Ray Train worker (it may run on another host), `arena eval`, `arena models list/show`, the
  scaling search's `nas:` base and `arena leaderboard sync`.

A name the tracking store has never seen keeps the home's own copy (a model saved before models were
published). Only grown names touch MLflow: `resnet50` resolves as it always did.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from arena import models
from arena.errors import ArenaError
from arena.settings import Settings

logger = logging.getLogger(__name__)


def grown_names(names: Iterable[str]) -> list[str]:
    """The names among `names` that a namespace keeps as a document (`scaled:<id>`, `nas:<id>`)."""
    return sorted({name for name in names if models.is_saved_name(name)})


def make_resolvable(names: Iterable[str], *, tracking_uri: str, home: Path) -> None:
    """Bring the published definitions of the grown models among `names`, and of those they are built from, into `home`.

    When a name is known neither to MLflow nor to `home`, every published definition is brought in,
    so that the registry's unknown-name error lists them all. A tracking store that cannot be reached
    is an ArenaError naming it; a published definition that is not valid is a CorruptDocument naming it.
    """
    wanted = set(grown_names(names))
    if not wanted:
        return
    from arena.tracking import model_catalogue

    asked: set[str] = set()
    while wanted - asked:
        batch = wanted - asked
        asked |= batch
        for name, published in model_catalogue.fetch(tracking_uri, batch).items():
            models.keep_saved_document(name, published.document(), home)
        for name in batch:
            wanted.update(models.saved_bases(name, home))
    if asked - set(models.model_names(home)):
        make_all_resolvable(tracking_uri=tracking_uri, home=home)


def make_all_resolvable(*, tracking_uri: str, home: Path) -> int:
    """Bring every published grown model's definition into `home` (for listings); return how many copies changed.

    A definition that is not valid is skipped with a warning: one bad model must not hide the others.
    """
    from arena.tracking import model_catalogue

    changed = 0
    for name, published in sorted(model_catalogue.fetch(tracking_uri).items()):
        if not models.is_saved_name(name):
            logger.warning("skipped %s: no namespace of this arena keeps such a model", name)
            continue
        try:
            changed += models.keep_saved_document(name, published.document(), home)
        except (ArenaError, ValueError) as error:  # a corrupt or misnamed definition
            logger.warning("skipped %s: %s", name, error)
    return changed


def publish(names: Iterable[str], settings: Settings) -> int:
    """Publish the saved definitions of `names`, and of the grown models they are built from, to MLflow.

    Returns how many definitions MLflow did not hold yet (or held in another version).
    """
    documents: dict[str, dict[str, Any]] = {}
    queue = grown_names(names)
    while queue:
        name = queue.pop()
        if name in documents:
            continue
        document = models.saved_document(name, settings.home)
        if document is None:
            raise ArenaError(f"model {name!r}: no saved definition under {settings.home / 'models'} to publish")
        documents[name] = document
        queue += models.saved_bases(name, settings.home)
    if not documents:
        return 0
    from arena.tracking import model_catalogue

    return model_catalogue.publish(settings.tracking_uri, settings.artifact_root, documents)
