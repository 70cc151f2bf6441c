"""The import rules (pyproject.toml, [tool.importlinter]) hold for the tree, and each one catches a breach.

Each breach is made in a copy of the package in tmp_path: one import added to one module, then
``lint-imports`` runs against the copy, limited to the contract the breach is about.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "pyproject.toml"
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint_imports(package_parent: Path, *contracts: str) -> subprocess.CompletedProcess[str]:
    """Run lint-imports on the ``careteam`` package found in ``package_parent``."""
    env = {**os.environ, "PYTHONPATH": str(package_parent)}
    selected = [arg for contract in contracts for arg in ("--contract", contract)]
    return subprocess.run(
        [str(LINT_IMPORTS), str(CONFIG), "--no-cache", "--no-logo", *selected],
        env=env,
        cwd=package_parent,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the package, to copy again for each breach (the copy is what lint-imports reads)."""
    root = tmp_path_factory.mktemp("pristine")
    shutil.copytree(ROOT / "careteam", root / "careteam", ignore=shutil.ignore_patterns("__pycache__"))
    return root


def test_the_tree_keeps_every_contract() -> None:
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr


BREACHES = [
    # (contract id, module of the copy, the import added to it, the contract's name as reported)
    ("layers", "core/vocab.py", "import careteam.web.deps", "Layers:"),
    # Only a feature's routes.py and pages.py may use the web toolkit: its service may not.
    ("layers", "plans/service.py", "from careteam.web import problems", "Layers:"),
    ("layers", "patients/service.py", "from careteam.realtime import hub", "Layers:"),
    ("layers", "audit/service.py", "from careteam.plans import service", "Layers:"),
    ("layers", "db/engine.py", "from careteam.core import actor", "Layers:"),
    ("accounts-tables", "accounts/service.py", "from careteam.patients import tables", "accounts imports"),
    ("patients-tables", "patients/pages.py", "from careteam.plans.tables import Task", "patients imports"),
    ("plans-tables", "plans/tasks.py", "from careteam.accounts.tables import User", "plans imports"),
    ("audit-tables", "audit/service.py", "import careteam.patients.tables", "audit imports"),
    (
        "notifications-tables",
        "notifications/service.py",
        "from careteam.plans.tables import Task",
        "notifications",
    ),
    (
        "plans-tables",
        "plans/tasks.py",
        "from careteam.notifications.tables import Notification",
        "plans imports",
    ),
    ("no-web-in-services", "plans/service.py", "import fastapi", "Services and"),
    ("no-web-in-services", "accounts/service.py", "from starlette import status", "Services and"),
    ("no-web-in-services", "core/errors.py", "import jinja2", "Services and"),
    ("no-web-in-services", "events/tables.py", "from fastapi import Request", "Services and"),
    ("no-web-in-services", "db/types.py", "import starlette.requests", "Services and"),
    ("features-acyclic", "accounts/service.py", "from careteam.plans import service", "No import cycles"),
    ("features-acyclic", "patients/pages.py", "from careteam.plans import service", "No import cycles"),
    # notifications sits below plans (plans call it) and above patients.
    ("features-acyclic", "notifications/service.py", "from careteam.plans import tasks", "No import cycles"),
    (
        "features-acyclic",
        "patients/service.py",
        "from careteam.notifications import service",
        "No import cycles",
    ),
    ("trail-tables", "trail/pages.py", "from careteam.audit.tables import AuditEntry", "trail imports"),
    ("work-tables", "work/service.py", "from careteam.plans.tables import Task", "work imports"),
    ("features-acyclic", "plans/worklist.py", "from careteam.work import service", "No import cycles"),
    # Messaging sits above plans and referrals (it calls plans' services); nothing below may import it, and
    # it reaches no other feature's tables. Its service is not the edge: no web toolkit there.
    (
        "messaging-tables",
        "messaging/service.py",
        "from careteam.plans.tables import Task",
        "messaging imports",
    ),
    ("plans-tables", "plans/board.py", "from careteam.messaging.tables import Message", "plans imports"),
    ("features-acyclic", "plans/board.py", "from careteam.messaging import service", "No import cycles"),
    ("features-acyclic", "referrals/service.py", "from careteam.messaging import render", "No import cycles"),
    ("layers", "messaging/service.py", "from careteam.web import idempotent", "Layers:"),
    # Search sits above messaging and plans (it matches their fragments); it reaches no feature's tables,
    # and nothing below it may import it.
    ("search-tables", "search/service.py", "from careteam.messaging.tables import Message", "search imports"),
    ("search-tables", "search/fulltext.py", "from careteam.plans.tables import Task", "search imports"),
    ("features-acyclic", "messaging/service.py", "from careteam.search import service", "No import cycles"),
    ("features-acyclic", "plans/tasks.py", "from careteam.search import fulltext", "No import cycles"),
    ("layers", "search/service.py", "from careteam.web import deps", "Layers:"),
    # The event log sits below every feature: it may not reach into a board's tables.
    ("layers", "events/log.py", "from careteam.plans.tables import CarePlan", "Layers:"),
]


@pytest.mark.parametrize(("contract", "module", "line", "name"), BREACHES)
def test_a_breach_breaks_its_contract(
    pristine: Path, tmp_path: Path, contract: str, module: str, line: str, name: str
) -> None:
    shutil.copytree(pristine / "careteam", tmp_path / "careteam")
    target = tmp_path / "careteam" / module
    target.write_text(target.read_text() + f"\n{line}  # the breach\n")

    result = lint_imports(tmp_path, contract)

    assert result.returncode == 1, result.stdout + result.stderr
    broken = [row for row in result.stdout.splitlines() if re.search(r" BROKEN( \(.*\))?$", row)]
    assert len(broken) == 1 and broken[0].startswith(name), result.stdout
    # The report names the added import (an outside package by its top name), so the copy was read.
    importer = "careteam." + module.removesuffix(".py").replace("/", ".")
    imported = line.split()[1]
    if not imported.startswith("careteam."):
        imported = imported.split(".")[0]
    assert f"{importer} -> {imported}" in result.stdout, result.stdout


def test_the_unbroken_copy_keeps_the_contracts_its_breaches_break(pristine: Path) -> None:
    """So each breach above is what breaks its contract, not something else in the copy."""
    kept = [
        "accounts-tables",
        "patients-tables",
        "plans-tables",
        "audit-tables",
        "trail-tables",
        "work-tables",
        "messaging-tables",
        "search-tables",
        "no-web-in-services",
    ]
    result = lint_imports(pristine, *kept)
    assert result.returncode == 0, result.stdout + result.stderr
