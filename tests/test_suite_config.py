"""The suite itself: a database or broker that is configured but unreachable fails the run, never skips."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from tests.conftest import PG_ADMIN_URL, PG_URL, RUN_DATABASE

ROOT = Path(__file__).resolve().parent.parent


def _pytest(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, **env}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args],
        cwd=ROOT,
        env=full,
        capture_output=True,
        text=True,
        timeout=120,
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
    before = await run_databases()
    # Another run beside this one: its PostgreSQL tests pass in a database of its own, gone when it ends.
    result = await asyncio.to_thread(_pytest, {}, "tests/web/test_problems.py", "-k", "postgres")
    assert result.returncode == 0, result.stdout[-2000:]
    assert " passed" in result.stdout.splitlines()[-1]
    assert await run_databases() <= before | {RUN_DATABASE}
