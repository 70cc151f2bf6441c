"""The build's one addition to pyproject.toml: alembic.ini, migrations/ and web/ inside the wheel's package.

The repository keeps them at its top level, where Alembic and the tests expect them; an installed careteam
has no top level of its own, so the wheel carries copies as ``careteam/_bundled/`` and
``careteam/resources.py`` looks there first. MANIFEST.in puts the originals in the sdist, so a wheel built
from the sdist gets them too.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent
BUNDLED = "_bundled"  # careteam/resources.py looks for this name
DATA = ("alembic.ini", "migrations", "web")


class BuildPyWithData(build_py):
    """``build_py``, then the data copied into the built package."""

    def run(self) -> None:
        super().run()
        # An editable install imports from the checkout, where the originals already are.
        if getattr(self, "editable_mode", False):
            return
        target = Path(self.build_lib) / "careteam" / BUNDLED
        shutil.rmtree(target, ignore_errors=True)  # no file left over from an earlier build
        for name in DATA:
            source = HERE / name
            if source.is_dir():
                skip = shutil.ignore_patterns("__pycache__", "*.py[co]")
                shutil.copytree(source, target / name, ignore=skip)
            else:
                target.mkdir(parents=True, exist_ok=True)
                shutil.copy2(source, target / name)


setup(cmdclass={"build_py": BuildPyWithData})
