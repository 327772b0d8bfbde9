"""Search spec files by kind: `arena submit` and `arena cluster report` load a search spec without running it.

`arena.spec.spec_kind` tells a file's kind from its fields; this module loads the two search kinds.
Only the spec modules are imported here (no Ray Tune), so checking a file stays quick.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from arena.search.core.spec import SearchSpec
from arena.settings import Settings

SEARCH_KINDS = ("scaling", "nas")
"""The search kinds, as `arena search KIND` names them."""


def load_search_spec(kind: str, path: Path, overrides: Sequence[str], settings: Settings) -> SearchSpec:
    """Read and validate a search spec of `kind` (a scaling base named `nas:<id>` is resolved with `settings`)."""
    if kind == "scaling":
        from arena.search.scaling.spec import read_scaling_spec

        return read_scaling_spec(path, overrides, settings)
    if kind == "nas":
        from arena.search.nas.spec import load_nas_spec

        return load_nas_spec(path, overrides)
    raise ValueError(f"no search of kind {kind!r} (known: {', '.join(SEARCH_KINDS)})")


def trained_model(kind: str, spec: SearchSpec) -> str:
    """What a search trains, for `arena jobs list`: the net a scaling search grows, or `nas` for a NAS search."""
    return spec.base.model if kind == "scaling" else "nas"
