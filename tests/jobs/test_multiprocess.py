"""Two processes, each with its own runner on the same PostgreSQL database: a due job runs exactly once.

Each process (``tests/jobs/worker.py``) has a manual clock that the test advances through its stdin, and
reports every poll it completes on stdout; the job inserts a row naming its process. No fixed sleeps: the
test waits for the row, then for both runners to complete further polls that began after it, and only
then counts.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from careteam.db import migrate
from careteam.db.engine import make_engine
from tests.conftest import PG_ADMIN_URL, run_database, run_database_url
from tests.jobs.conftest import EVERY, POLL, T0

ROOT = Path(__file__).resolve().parents[2]
WAIT = 20.0  # seconds of real time: two interpreters start on a shared 2-core machine

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(not PG_ADMIN_URL, reason="needs CARETEAM_TEST_DATABASE_URL"),
]


class Worker:
    """A ``python -m tests.jobs.worker`` process and the poll count it last reported."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.polls = 0
        self._changed = asyncio.Event()
        self._reader = asyncio.create_task(self._read())

    @classmethod
    async def start(cls, url: str) -> Worker:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tests.jobs.worker",
            url,
            T0.isoformat(),
            cwd=ROOT,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        return cls(proc)

    async def _read(self) -> None:
        assert self.proc.stdout is not None
        while line := await self.proc.stdout.readline():
            self.polls = int(line.split()[1])
            self._changed.set()
        self._changed.set()

    async def polled(self, count: int) -> None:
        async with asyncio.timeout(WAIT):
            while self.polls < count:
                assert self.proc.returncode is None and not self._reader.done(), "worker exited"
                self._changed.clear()
                await self._changed.wait()

    async def advance(self, by: timedelta) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(f"advance {by.total_seconds()}\n".encode())
        await self.proc.stdin.drain()

    async def stop(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        try:
            async with asyncio.timeout(10):
                await self.proc.wait()
        except TimeoutError:
            self.proc.kill()
            await self.proc.wait()
        await self._reader


@pytest.fixture
async def url() -> AsyncIterator[str]:
    """A database of this run's own (dropped with the run), at head, with the probe's table."""
    name = run_database("jobs")
    admin = make_engine(PG_ADMIN_URL)
    async with admin.connect() as conn:
        conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await conn.execute(text(f'CREATE DATABASE "{name}"'))
    await admin.dispose()
    url = run_database_url("jobs")
    await asyncio.to_thread(migrate.upgrade, url)
    engine = make_engine(url)
    async with engine.begin() as conn:
        await conn.execute(text("CREATE TABLE job_probe (pid integer NOT NULL, due timestamptz NOT NULL)"))
    await engine.dispose()
    yield url


async def _runs(url: str) -> list[tuple[int, object]]:
    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            return [tuple(r) for r in (await conn.execute(text("SELECT pid, due FROM job_probe"))).all()]
    finally:
        await engine.dispose()


async def _next_run_at(url: str) -> object:
    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            sql = "SELECT next_run_at FROM scheduled_job WHERE name = 'probe'"
            return (await conn.execute(text(sql))).scalar_one()
    finally:
        await engine.dispose()


async def _all_advance_and_poll(workers: list[Worker], by: timedelta) -> None:
    """Advance every clock and wait until each runner completed a poll that began after the advance.

    A runner idle at ``p`` polls once (``p + 1``); one that was mid-poll at ``p`` finishes it (``p + 1``,
    perhaps begun before) and then polls again at once (its next poll time has passed). Advancing twice and
    waiting for ``p + 2`` covers both."""
    start = [w.polls for w in workers]
    for step in (1, 2):
        await asyncio.gather(*(w.advance(by) for w in workers))
        await asyncio.gather(*(w.polled(p + step) for w, p in zip(workers, start, strict=True)))


async def test_two_processes_run_a_due_job_exactly_once(url: str) -> None:
    workers = [await Worker.start(url), await Worker.start(url)]
    try:
        await asyncio.gather(*(w.polled(1) for w in workers))  # both declared the job: due at T0 + EVERY
        assert await _next_run_at(url) == T0 + EVERY

        await _all_advance_and_poll(workers, (EVERY - 3 * POLL) / 2)  # not yet due
        assert await _runs(url) == []

        # Due now in both processes at once; both poll at once. Each was idle, so the poll each reports
        # next began after the advance, and the one that claimed the job reports after its commit.
        before = [w.polls for w in workers]
        await asyncio.gather(*(w.advance(3 * POLL) for w in workers))
        await asyncio.gather(*(w.polled(p + 1) for w, p in zip(workers, before, strict=True)))
        assert len(await _runs(url)) == 1
        # Both runners complete polls that began after the row committed: a second run would show.
        await _all_advance_and_poll(workers, POLL)
        runs = await _runs(url)
        assert len(runs) == 1, runs
        assert runs[0][0] in {w.proc.pid for w in workers} and runs[0][1] == T0 + EVERY
        assert await _next_run_at(url) == T0 + 2 * EVERY
    finally:
        for w in workers:
            await w.stop()
