"""The shape of the code base: one-way dependencies, and a package that installs whole."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SOURCE = REPO / "platform"


def test_dependencies_flow_one_way() -> None:
    result = subprocess.run([str(Path(sys.executable).parent / "lint-imports")], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "0 broken" in result.stdout


def test_every_source_folder_is_a_regular_package() -> None:
    # setuptools' find_packages skips folders without __init__.py: they would vanish from a wheel.
    folders = {path.parent for path in (SOURCE / "arena").rglob("*.py") if "__pycache__" not in path.parts}
    missing = sorted(str(folder.relative_to(SOURCE)) for folder in folders if not (folder / "__init__.py").exists())
    assert missing == []


def test_platform_is_never_a_package() -> None:
    # A package named `platform` would shadow Python's own module and break torch and ray.
    assert not (SOURCE / "__init__.py").exists()
    import platform

    assert hasattr(platform, "python_version")
