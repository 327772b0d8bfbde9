"""The grown models' catalogue in MLflow: each `scaled:`/`nas:` definition published once, read by every host.

A definition is one MLflow LoggedModel in the experiment `grown-models`: the arena name in the tag
`arena.model`, the namespace as its `model_type`, and the definition document (the JSON a search
saves under `$ARENA_HOME/models/<prefix>/`) in the tag `arena.definition`. Publishing a name again
replaces that tag on the same logged model; should two hosts ever create the same name at once,
readers take the one updated last. Why logged models and not the model registry: docs/mlflow.md.

This module moves documents only; what they mean, and where a host keeps its copy, is `arena.models`'s.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlflow.entities import LoggedModel
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from arena.errors import ArenaError, mask_secrets
from arena.tracking.client import client_for
from arena.tracking.run_log import ensure_experiment

CATALOGUE_EXPERIMENT = "grown-models"
NAME_TAG = "arena.model"
DEFINITION_TAG = "arena.definition"
DEFINITION_LIMIT = 8000
"""MLflow keeps a tag value of at most 8000 characters (and would cut a longer one short)."""
_NAME = re.compile(r"[A-Za-z0-9_.+:-]+")
"""What a grown model's name may hold (`prefix:<id>`): a name with anything else was never published."""
_NAMES_PER_SEARCH = 100
_PAGE = 1000
_NEWEST_FIRST = [{"field_name": "last_updated_timestamp", "ascending": False}]


@dataclass(frozen=True)
class Published:
    """One published definition as MLflow holds it."""

    name: str
    model_id: str
    text: str

    def document(self) -> dict[str, Any]:
        """The definition document; ArenaError naming the logged model when it is not a JSON object."""
        try:
            document = json.loads(self.text)
        except ValueError as error:
            document = error
        if not isinstance(document, dict):
            raise ArenaError(f"model {self.name!r}: its definition in MLflow (logged model {self.model_id} of the "
                             f"experiment {CATALOGUE_EXPERIMENT!r}) is not a JSON object")
        return document


def encode(document: Mapping[str, Any]) -> str:
    """The definition as it is published: compact JSON, keys sorted, so equal documents are equal text."""
    return json.dumps(document, sort_keys=True, separators=(",", ":"))


@contextlib.contextmanager
def _talking(tracking_uri: str, names: Collection[str] | None) -> Iterator[None]:
    """Turn MLflow's and the network's errors into one line naming the store and the models it was asked for."""
    what = "grown models" if names is None else ", ".join(sorted(names)[:3]) + (", ..." if len(names) > 3 else "")
    where = f"{what}: grown models are defined in the MLflow tracking store {mask_secrets(tracking_uri)}"
    try:
        yield
    except MlflowException as error:
        reason = error.message.strip().splitlines()[0] if error.message.strip() else type(error).__name__
        raise ArenaError(f"{where}, which did not answer: {reason}") from None
    except OSError as error:  # requests' connection errors are OSErrors: a server that is not there
        raise ArenaError(f"{where}, which cannot be reached: {error}") from None


def _no_store_yet(tracking_uri: str) -> bool:
    """A SQLite store that was never written: nothing has been published to it."""
    return tracking_uri.startswith("sqlite:///") and not Path(tracking_uri.removeprefix("sqlite:///")).is_file()


def _display_name(name: str) -> str:
    """The LoggedModel's own name: MLflow refuses / : . % and quotes in one, so they become '-'."""
    return "".join("-" if character in "/:.%'\"" else character for character in name)


def _newest(client: MlflowClient, experiment_id: str, names: Collection[str] | None) -> dict[str, LoggedModel]:
    """The last-updated logged model of each name (of every name when `names` is None)."""
    queries: list[str | None] = [None]
    if names is not None:
        ordered = sorted(names)
        queries = [
            f"tags.`{NAME_TAG}` IN ({', '.join(repr(name) for name in ordered[start:start + _NAMES_PER_SEARCH])})"
            for start in range(0, len(ordered), _NAMES_PER_SEARCH)
        ]
    found: dict[str, LoggedModel] = {}
    for query in queries:
        token = None
        while True:
            page = client.search_logged_models([experiment_id], filter_string=query, max_results=_PAGE,
                                               order_by=_NEWEST_FIRST, page_token=token)
            for model in page:
                name = model.tags.get(NAME_TAG)
                if name and DEFINITION_TAG in model.tags and name not in found:
                    found[name] = model
            token = page.token
            if not token:
                break
    return found


def fetch(tracking_uri: str, names: Collection[str] | None = None) -> dict[str, Published]:
    """The published definitions of `names` (of every grown model when None); a name never published is absent.

    A SQLite store that does not exist yet holds none. A store that cannot be reached is an ArenaError.
    """
    if names is not None:
        names = [name for name in names if _NAME.fullmatch(name)]
        if not names:
            return {}
    if _no_store_yet(tracking_uri):
        return {}
    with _talking(tracking_uri, names):
        client = client_for(tracking_uri, must_exist=True)
        experiment = client.get_experiment_by_name(CATALOGUE_EXPERIMENT)
        if experiment is None or experiment.lifecycle_stage != "active":
            return {}
        newest = _newest(client, experiment.experiment_id, names)
    return {name: Published(name, model.model_id, model.tags[DEFINITION_TAG]) for name, model in newest.items()}


def publish(tracking_uri: str, artifact_root: str, documents: Mapping[str, Mapping[str, Any]]) -> int:
    """Publish each name's definition (creating the logged model, or updating its definition); return how many changed."""
    if not documents:
        return 0
    texts = {name: encode(document) for name, document in documents.items()}
    too_long = [f"{name} ({len(text)} characters)" for name, text in texts.items() if len(text) > DEFINITION_LIMIT]
    if too_long:
        raise ArenaError(f"cannot publish {', '.join(too_long)}: MLflow keeps at most {DEFINITION_LIMIT} characters a definition")
    changed = 0
    with _talking(tracking_uri, list(documents)):
        client = client_for(tracking_uri)
        experiment_id = ensure_experiment(client, CATALOGUE_EXPERIMENT, artifact_root, leaderboard_view=False)
        current = _newest(client, experiment_id, list(texts))
        for name, text in sorted(texts.items()):
            found = current.get(name)
            if found is not None and found.tags.get(DEFINITION_TAG) == text:
                continue
            if found is not None:
                client.set_logged_model_tags(found.model_id, {DEFINITION_TAG: text})
            else:
                prefix = name.partition(":")[0]
                model = client.create_logged_model(experiment_id, name=_display_name(name), model_type=prefix,
                                                   tags={NAME_TAG: name, DEFINITION_TAG: text})
                client.finalize_logged_model(model.model_id, "READY")
            changed += 1
    return changed
