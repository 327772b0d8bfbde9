"""Find the page template and its CSS and JavaScript: the `dashboards/` folder, installed or in a checkout.

A wheel ships `dashboards/` as the package data of `arena.dashboards` (pyproject's package-dir maps
it); an editable install or a plain checkout reads the folder at the repository root.
"""

from __future__ import annotations

from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

from arena.errors import ArenaError

PACKAGE = "arena.dashboards"
CHECKOUT_FOLDER = Path(__file__).resolve().parents[3] / "dashboards"  # platform/arena/dashboard -> repo root
FILES = ("page.html.j2", "dashboard.css", "dashboard.js")


def asset_folder() -> Traversable:
    """The folder holding the dashboard's template and assets."""
    try:
        folder = resources.files(PACKAGE)
        if folder.joinpath(FILES[0]).is_file():
            return folder
    except ModuleNotFoundError:
        pass
    if (CHECKOUT_FOLDER / FILES[0]).is_file():
        return CHECKOUT_FOLDER
    raise ArenaError(f"the dashboard's templates are missing: neither package {PACKAGE} nor {CHECKOUT_FOLDER} holds {FILES[0]}")


def read_asset(name: str) -> str:
    """One asset's text, by file name."""
    if name not in FILES:
        raise ArenaError(f"unknown dashboard asset {name!r}; valid: {', '.join(FILES)}")
    return asset_folder().joinpath(name).read_text(encoding="utf-8")
