"""The page's template, CSS and JavaScript (the files beside this module), and how to read them, installed or in a checkout."""

from __future__ import annotations

from importlib import resources
from importlib.resources.abc import Traversable

from arena.errors import ArenaError

FILES = ("page.html.j2", "dashboard.css", "dashboard.js")


def asset_folder() -> Traversable:
    """The folder holding the page's template and assets."""
    folder = resources.files(__package__)
    if not folder.joinpath(FILES[0]).is_file():
        raise ArenaError(f"the dashboard's templates are missing: {folder} holds no {FILES[0]}")
    return folder


def read_asset(name: str) -> str:
    """One asset's text, by file name."""
    if name not in FILES:
        raise ArenaError(f"unknown dashboard asset {name!r}; valid: {', '.join(FILES)}")
    return asset_folder().joinpath(name).read_text(encoding="utf-8")
