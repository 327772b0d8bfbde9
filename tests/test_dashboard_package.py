"""The dashboard's templates ship in the wheel: pyproject's package list is whole and an installed copy renders the page."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest
from setuptools import find_packages

REPO = Path(__file__).resolve().parents[1]


def test_pyproject_lists_every_package() -> None:
    config = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(config["packages"])
    assert config["package-dir"] == {"": "platform"}, "the page's assets live inside arena.webpage: no other mapping"
    found = set(find_packages(str(REPO / "platform")))
    assert listed == found, f"pyproject's [tool.setuptools] packages must list exactly: {sorted(found)}"


def test_checkout_folder_holds_the_assets() -> None:
    from arena.webpage.assets import FILES, asset_folder

    folder = asset_folder()
    assert all(folder.joinpath(name).is_file() for name in FILES)


@pytest.mark.slow
def test_installed_wheel_renders_the_page(tmp_path: Path) -> None:
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--quiet", str(REPO), "-w", str(tmp_path)],
        capture_output=True, text=True, timeout=300, cwd=tmp_path,
    )
    assert build.returncode == 0, build.stderr[-2000:]
    (wheel,) = tmp_path.glob("*.whl")
    site = tmp_path / "site"
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        archive.extractall(site)
    assert {"arena/webpage/assets/page.html.j2", "arena/webpage/assets/dashboard.css", "arena/webpage/assets/dashboard.js"} <= names
    # The unpacked wheel comes first on sys.path, ahead of the checkout the editable install points at.
    script = (
        "import arena.webpage.assets as a, arena.leaderboard as lb, arena.webpage as d\n"
        f"assert str(a.asset_folder()).startswith({str(site)!r}), a.asset_folder()\n"
        f"store = lb.open_store('sqlite:///{tmp_path / 'leaderboard.db'}')\n"
        "page = d.render_page(store)\n"
        "assert 'id=\"chart-years\"' in page and 'ILSVRC' in page\n"
        "print('rendered', len(page))\n"
    )
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300,
                         env={**os.environ, "PYTHONPATH": str(site)}, cwd=tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.stdout.startswith("rendered")
