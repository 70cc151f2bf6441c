"""The suite itself: a database or broker that is configured but unreachable fails the run, never skips; each
run (each xdist worker) has its own PostgreSQL database; the tests that must run alone are marked so."""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from tests.conftest import PG_ADMIN_URL, PG_URL, RUN_DATABASE, WORKER

ROOT = Path(__file__).resolve().parent.parent


def _pytest(env: dict[str, str], *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    # A run of its own, not one more xdist worker of this one (a worker's variables would name it so).
    full = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_XDIST")} | env
    full.pop("PYTEST_ADDOPTS", None)
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args],
        cwd=ROOT,
        env=full,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.mark.parametrize(
    ("variable", "url", "target", "expected"),
    [
        (
            "CARETEAM_TEST_DATABASE_URL",
            "postgresql+asyncpg://postgres@127.0.0.1:1/test",
            "tests/web/test_problems.py",
            "PostgreSQL is unreachable",
        ),
        (
            "CARETEAM_TEST_REDIS_URL",
            "redis://127.0.0.1:1/0",
            "tests/realtime/broker/test_brokers.py::test_notices_reach_the_subscribed_plan_only",
            "could not connect",
        ),
    ],
)
def test_configured_but_unreachable_service_fails_the_run(
    variable: str, url: str, target: str, expected: str
) -> None:
    result = _pytest({variable: url}, target, "-k", "postgres or redis")
    assert result.returncode != 0, result.stdout[-2000:]
    assert expected in result.stdout, result.stdout[-2000:]
    summary = result.stdout.splitlines()[-1]
    assert "error" in summary or "failed" in summary, summary


@pytest.mark.postgres
@pytest.mark.skipif(not PG_ADMIN_URL, reason="needs PostgreSQL (CARETEAM_TEST_DATABASE_URL)")
async def test_each_run_has_its_own_postgres_database_and_drops_it() -> None:
    async def run_databases() -> set[str]:
        admin = create_async_engine(PG_ADMIN_URL)
        try:
            async with admin.connect() as conn:
                like = "SELECT datname FROM pg_database WHERE datname LIKE 'careteam_test_%'"
                rows = await conn.execute(text(like))
                return {name for (name,) in rows.all()}
        finally:
            await admin.dispose()

    assert make_url(PG_URL).database == RUN_DATABASE != make_url(PG_ADMIN_URL).database
    assert RUN_DATABASE.startswith(f"careteam_test_{WORKER}_")
    # Another run beside this one (-v: its header names its database): its PostgreSQL tests pass in a
    # database of its own, gone when it ends. Other runs (the other worker) make and drop theirs meanwhile,
    # so the check is on that run's names, not on the server's whole list.
    result = await asyncio.to_thread(_pytest, {}, "-v", "tests/web/test_problems.py", "-k", "postgres")
    assert result.returncode == 0, result.stdout[-2000:]
    assert " passed" in result.stdout.splitlines()[-1]
    named = re.search(r"^careteam test database: (careteam_test_main_\w+)$", result.stdout, re.MULTILINE)
    assert named, result.stdout[:2000]
    other = named.group(1)
    assert other != RUN_DATABASE
    assert not {name for name in await run_databases() if name == other or name.startswith(f"{other}_")}


# The tests scripts/test runs after the parallel part, by themselves (docs/testing.md says why each).
ALONE = {
    "tests/conferences/test_room_stream.py::": "500 sockets on one server, a deadline for the whole run",
    "tests/realtime/test_multiprocess.py::": "server processes on the shared Redis's channels",
    "tests/realtime/test_cli_live.py::": "within 1 s of the command's exit; the shared Redis's channels",
    "tests/test_bench_quick.py::": "the benchmark takes both cores",
    "tests/web/test_outage_stream.py::": "PostgreSQL cut under a live server",
    "tests/web/test_health.py::test_readyz_follows_postgresql_going_away_and_coming_back": "PostgreSQL cut",
    "tests/realtime/test_ws.py::test_a_subscribe_flood_is_audited_once_per_stream_closed_and_slows_no_one": (
        "a latency bound under a flood"
    ),
}
# Fixtures that take a service away from under the app: a test using one runs alone.
OUTAGE_FIXTURES = {"proxy", "private_redis"}

_DUMP_PLUGIN = """
import json, os

def pytest_collection_finish(session):
    items = [
        {
            "id": item.nodeid,
            "marks": sorted({mark.name for mark in item.iter_markers()}),
            "groups": [mark.args[0] for mark in item.iter_markers("xdist_group")],
            "fixtures": sorted(getattr(item, "fixturenames", ())),
        }
        for item in session.items
    ]
    with open(os.environ["CARETEAM_SUITE_DUMP"], "w") as out:
        json.dump(items, out)
"""


@dataclass(frozen=True)
class Collected:
    id: str
    marks: list[str]
    groups: list[str]
    fixtures: list[str]


@pytest.fixture(scope="module")
def collected(tmp_path_factory: pytest.TempPathFactory) -> list[Collected]:
    """Every test as a whole run collects it: its id, marks, xdist groups and fixtures."""
    where = tmp_path_factory.mktemp("suite")
    (where / "careteam_suite_dump.py").write_text(_DUMP_PLUGIN)
    dump = where / "items.json"
    path = os.pathsep.join(p for p in (str(where), str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
    env = {"PYTHONPATH": path, "CARETEAM_SUITE_DUMP": str(dump)}
    # Collecting the ~2000 tests takes 8 s on an idle machine, over a minute beside a busy worker.
    result = _pytest(env, "--collect-only", "-p", "careteam_suite_dump", timeout=240)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    return [Collected(**item) for item in json.loads(dump.read_text())]


def test_the_alone_marker_is_registered_and_scripts_test_runs_both_parts(
    request: pytest.FixtureRequest,
) -> None:
    assert any(line.startswith("alone:") for line in request.config.getini("markers"))
    script = (ROOT / "scripts" / "test").read_text()
    assert '.venv/bin/pytest -n 2 --dist loadgroup -m "not alone" "$@"\n' in script
    assert '.venv/bin/pytest -m alone "$@"\n' in script
    assert "set -euo pipefail" in script  # a failed part (or exit 5, nothing collected) fails the run


@pytest.mark.timeout(300)  # sets up ``collected`` (above)
def test_the_alone_tests_are_exactly_the_listed_ones(collected: list[Collected]) -> None:
    alone = {item.id for item in collected if "alone" in item.marks}
    assert alone == {item.id for item in collected if item.id.startswith(tuple(ALONE))}
    for prefix in ALONE:  # each entry still names tests
        assert any(name.startswith(prefix) for name in alone), prefix


@pytest.mark.timeout(300)  # may set up ``collected`` (above)
def test_outage_tests_run_alone_and_browser_tests_share_one_worker(collected: list[Collected]) -> None:
    browser = [item for item in collected if item.id.startswith("tests/browser/")]
    assert browser
    for item in browser:
        assert "browser" in item.marks and item.groups == ["browser"], item
    for item in collected:
        if OUTAGE_FIXTURES & set(item.fixtures):
            assert "alone" in item.marks, item.id
