"""Build hook: the wheel carries the checkout's top-level templates/, mkdocs.yml and workflows as atc/bundled/.

`templates/` stays the one source of the templates; everything else is declared in pyproject.toml.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
BUNDLE = {"templates": "templates", "mkdocs.yml": "mkdocs.yml", "workflows": ".github/workflows"}  # atc/common/resources.py: SOURCES


class BuildPyWithBundle(build_py):
    """build_py, then copy the bundled resources into the built package."""

    def run(self) -> None:
        super().run()
        target = Path(self.build_lib) / "atc" / "bundled"
        for name, source in BUNDLE.items():
            origin, destination = ROOT / source, target / name
            if origin.is_dir():
                shutil.copytree(origin, destination, dirs_exist_ok=True)
            elif origin.is_file():
                destination.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(origin, destination)


setup(cmdclass={"build_py": BuildPyWithBundle})
