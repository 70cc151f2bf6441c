"""Where careteam's files that are not Python live: ``alembic.ini``, ``migrations/`` and ``web/``.

A source checkout keeps them at its top level, beside the ``careteam`` package (and so does an editable
install, which imports from the checkout). A wheel cannot put them there: the build copies them into the
package as ``careteam/_bundled/`` (see ``setup.py``), and that copy wins when it exists. Alembic, Jinja's
loader and Starlette's static files all want directories on disk, so a zipped install is not supported.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

BUNDLED = "_bundled"  # setup.py writes this name; keep the two in step


def _root() -> Path:
    bundled = files("careteam").joinpath(BUNDLED)
    if isinstance(bundled, Path) and bundled.is_dir():
        return bundled  # installed from a wheel or an sdist
    checkout = Path(__file__).resolve().parent.parent
    if (checkout / "alembic.ini").is_file():
        return checkout
    raise RuntimeError(
        f"careteam's migrations and web files are in neither {bundled} nor {checkout}: "
        "install careteam from its wheel or sdist, or run it from a source checkout"
    )


ROOT = _root()
ALEMBIC_INI = ROOT / "alembic.ini"
MIGRATIONS = ROOT / "migrations"
TEMPLATES = ROOT / "web" / "templates"
STATIC = ROOT / "web" / "static"
