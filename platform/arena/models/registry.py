"""The model registry: named builders carrying their paper facts, plus dynamic namespaces.

Each variant registers a builder `(num_classes, drop_rate, drop_path_rate) -> nn.Module` under
`@register(...)`. Counted params and GMACs come from the checked-in `complexity.json`, so listing
the zoo never builds a model. A namespace ("scaled", "nas") serves names such as `scaled:<id>`
that later searches persist on disk, in an arena home the caller passes (`home`): the registry
never reads the environment, nor MLflow. A namespace that keeps its models as documents
(`saved=`) also hands them out and takes them in, so the layer above can publish them to MLflow
and cache them on another host (`training/grown_models.py`).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from arena.errors import ArenaError, UnknownNameError
from arena.models.info import InputContract, ModelInfo
from arena.models.persisted import SavedModels

if TYPE_CHECKING:
    from torch import nn

COMPLEXITY_PATH = Path(__file__).with_name("complexity.json")
NAMESPACE_SEPARATOR = ":"
logger = logging.getLogger(__name__)


class Builder(Protocol):
    """Build a model with fresh weights; a None rate means the architecture's own default."""

    def __call__(
        self, num_classes: int, drop_rate: float | None, drop_path_rate: float | None
    ) -> nn.Module: ...


Resolver = Callable[[str, Path], "tuple[ModelInfo, Callable[..., nn.Module]] | None"]
"""Look a namespaced name up in an arena home: its facts and builder, or None when there is none."""


@dataclass(frozen=True)
class _Namespace:
    resolve: Resolver
    list_names: Callable[[Path], list[str]]
    saved: SavedModels[Any] | None


def _load_complexity() -> dict[str, dict[str, float]]:
    if not COMPLEXITY_PATH.exists():
        return {}
    return json.loads(COMPLEXITY_PATH.read_text())


_COMPLEXITY = _load_complexity()
_MODELS: dict[str, tuple[ModelInfo, Builder]] = {}
_NAMESPACES: dict[str, _Namespace] = {}


def register(
    name: str,
    *,
    family: str,
    year: int,
    paper_title: str,
    paper_authors: str,
    key_idea: str,
    block: str,
    input: InputContract,  # noqa: A002 - the field's public name
    paper_top1_error: float | None = None,
    paper_top5_error: float | None = None,
    notes: str = "",
) -> Callable[[Builder], Builder]:
    """Register a builder under `name` with its facts; a name registered twice is an error."""
    if NAMESPACE_SEPARATOR in name:
        raise ValueError(f"model name {name!r} must not contain {NAMESPACE_SEPARATOR!r} (namespaces use it)")
    counted = _COMPLEXITY.get(name, {})
    info = ModelInfo(
        name=name,
        family=family,
        year=year,
        paper_title=paper_title,
        paper_authors=paper_authors,
        key_idea=key_idea,
        block=block,
        input=input,
        paper_top1_error=paper_top1_error,
        paper_top5_error=paper_top5_error,
        params=int(counted["params"]) if "params" in counted else None,
        gflops=float(counted["gflops"]) if "gflops" in counted else None,
        notes=notes,
    )

    def decorator(builder: Builder) -> Builder:
        if name in _MODELS:
            raise ValueError(f"model {name!r} is already registered")
        _MODELS[name] = (info, builder)
        return builder

    return decorator


def register_namespace(
    prefix: str,
    resolve: Resolver,
    list_names: Callable[[Path], list[str]],
    *,
    saved: SavedModels[Any] | None = None,
) -> None:
    """Serve every name `prefix:<id>` through `resolve(full_name, home)`; registering a prefix again replaces it.

    `resolve` receives the full name (e.g. "scaled:phi1") and the arena home its models are saved
    in, and returns its ModelInfo and a builder taking (num_classes, drop_rate, drop_path_rate), or
    None when there is no such model. `list_names(home)` returns the names it serves, with or without
    the prefix. `saved`, the namespace's documents, makes its models publishable (`saved_document`,
    `keep_saved_document`, `saved_bases`).
    """
    prefix = prefix.rstrip(NAMESPACE_SEPARATOR)
    if not prefix or NAMESPACE_SEPARATOR in prefix:
        raise ValueError(f"namespace prefix must be a plain word such as 'scaled', got {prefix!r}")
    if saved is not None and saved.prefix != prefix:
        raise ValueError(f"namespace {prefix!r} given the saved models of {saved.prefix!r}")
    _NAMESPACES[prefix] = _Namespace(resolve, list_names, saved)


def unregister_namespace(prefix: str) -> None:
    """Remove a namespace (for tests)."""
    _NAMESPACES.pop(prefix.rstrip(NAMESPACE_SEPARATOR), None)


def _saved_models(name: str) -> SavedModels[Any] | None:
    prefix, separator, _ = name.partition(NAMESPACE_SEPARATOR)
    namespace = _NAMESPACES.get(prefix) if separator else None
    return None if namespace is None else namespace.saved


def is_saved_name(name: str) -> bool:
    """True for a name a namespace keeps as a document (`scaled:<id>`, `nas:<id>`), whether or not it exists."""
    return _saved_models(name) is not None


def saved_document(name: str, home: Path) -> dict[str, Any] | None:
    """The document `home` keeps for saved model `name`, checked; None when it keeps none."""
    saved = _saved_models(name)
    if saved is None:
        raise ValueError(f"model {name!r} is not in a namespace of saved models")
    return saved.document(name, home)


def keep_saved_document(name: str, document: dict[str, Any], home: Path) -> bool:
    """Make `document` the copy `home` keeps of saved model `name` (checked first); True when the copy changed."""
    saved = _saved_models(name)
    if saved is None:
        raise ValueError(f"model {name!r} is not in a namespace of saved models")
    return saved.keep(name, document, home)


def saved_bases(name: str, home: Path) -> tuple[str, ...]:
    """The saved models that `home`'s copy of `name` is built from (a scaled model's nas: base); () when none."""
    saved = _saved_models(name)
    return () if saved is None else saved.bases(name, home)


def _namespace_names(prefix: str, home: Path) -> list[str]:
    names = _NAMESPACES[prefix].list_names(home)
    head = prefix + NAMESPACE_SEPARATOR
    return sorted(name if name.startswith(head) else head + name for name in names)


def _resolve(name: str, home: Path | None) -> tuple[ModelInfo, Callable[..., nn.Module]]:
    if name in _MODELS:
        return _MODELS[name]
    prefix, separator, _ = name.partition(NAMESPACE_SEPARATOR)
    if separator and prefix in _NAMESPACES:
        if home is None:
            raise ArenaError(f"model {name!r}: {prefix}: models are read from an arena home, and none was given")
        found = _NAMESPACES[prefix].resolve(name, home)
        if found is not None:
            return found
        raise UnknownNameError("model", name, _namespace_names(prefix, home))
    raise UnknownNameError("model", name, model_names(home))


def model_names(home: Path | None = None) -> list[str]:
    """Return every model name: the registered ones, then those the namespaces serve from `home` (when given)."""
    names = sorted(_MODELS)
    if home is not None:
        for prefix in sorted(_NAMESPACES):
            names += _namespace_names(prefix, home)
    return names


def get_model_info(name: str, home: Path | None = None) -> ModelInfo:
    """Return the facts of model `name`; an unknown name raises UnknownNameError with the closest names.

    A namespaced name (`scaled:<id>`, `nas:<id>`) is read from the arena home `home`, which it needs.
    """
    return _resolve(name, home)[0]


def list_models(family: str | None = None, home: Path | None = None) -> list[ModelInfo]:
    """Return every model's facts (of one family when given): registered ones by year then name, then `home`'s saved ones."""
    static = sorted((info for info, _ in _MODELS.values()), key=lambda info: (info.year, info.name))
    dynamic = []
    names = [] if home is None else [name for prefix in sorted(_NAMESPACES) for name in _namespace_names(prefix, home)]
    for name in names:
        try:
            dynamic.append(get_model_info(name, home))
        except ArenaError as error:  # one corrupt saved model must not hide the zoo
            logger.warning("skipped %s: %s", name, error)
    infos = static + dynamic
    if family is None:
        return infos
    known = {info.family for info in infos}
    if family not in known:
        raise UnknownNameError("family", family, known)
    return [info for info in infos if info.family == family]


def families(home: Path | None = None) -> list[str]:
    """Return the family names, sorted."""
    return sorted({info.family for info in list_models(home=home)})


def build(
    name: str,
    num_classes: int = 1000,
    *,
    drop_rate: float | None = None,
    drop_path_rate: float | None = None,
    home: Path | None = None,
) -> nn.Module:
    """Build model `name` with fresh weights (nothing downloads); a namespaced name is read from `home`.

    `drop_rate` (dropout before the classifier) and `drop_path_rate` (stochastic depth) reach the
    architectures that have them; None keeps the architecture's default, and a model without
    such a layer ignores the rate (its builder's docstring says so).
    """
    problems = []
    if num_classes < 1:
        problems.append(f"num_classes must be at least 1, got {num_classes}")
    for field, rate in (("drop_rate", drop_rate), ("drop_path_rate", drop_path_rate)):
        if rate is not None and not 0.0 <= rate < 1.0:
            problems.append(f"{field} must be in [0, 1), got {rate}")
    if problems:
        raise ArenaError(f"model {name!r}: " + "; ".join(problems))
    _, builder = _resolve(name, home)
    return builder(num_classes=num_classes, drop_rate=drop_rate, drop_path_rate=drop_path_rate)
