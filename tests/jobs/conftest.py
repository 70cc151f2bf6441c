"""Job fixtures: the app on a manual clock with one job, ``probe``, whose work each test chooses.

The clock only moves when a test advances it, and the runner polls only when it does (poll interval 1 s of
clock time), so ``tick`` is exactly one poll: no sleeps, no race with the runner.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlmodel.ext.asyncio.session import AsyncSession

from careteam.app import create_app
from careteam.jobs.clock import ManualClock
from careteam.jobs.registry import Registry
from careteam.jobs.runner import Runner
from careteam.settings import Settings
from tests.realtime.conftest import live_server, open_viewer, team

__all__ = ["live_server", "open_viewer", "team"]  # fixtures shared with the realtime tests

T0 = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
EVERY = timedelta(hours=1)
POLL = timedelta(seconds=1)
WAIT = 5.0  # seconds of real time for anything the runner does


class Probe:
    """The job ``probe``: records the clock time of each run, then does ``work`` (if set) in the job's
    transaction. Runs are recorded even when ``work`` fails."""

    def __init__(self) -> None:
        self.runs: list[datetime] = []
        self.work: Callable[[AsyncSession, datetime], Awaitable[None]] | None = None
        self._changed = asyncio.Event()

    async def __call__(self, session: AsyncSession, *, now: datetime) -> None:
        self.runs.append(now)
        self._changed.set()
        if self.work is not None:
            await self.work(session, now)

    async def ran(self, times: int) -> None:
        """Wait (at most WAIT seconds) until the job has started ``times`` times."""
        async with asyncio.timeout(WAIT):
            while len(self.runs) < times:
                self._changed.clear()
                await self._changed.wait()


@pytest.fixture
def probe() -> Probe:
    return Probe()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"jobs_poll_seconds": POLL.total_seconds(), "jobs_enabled": True})


@pytest.fixture
async def app(settings: Settings, probe: Probe, clock: ManualClock) -> AsyncIterator[Any]:
    jobs = Registry()
    jobs.add("probe", probe, every=EVERY)
    application = create_app(settings, jobs=jobs, clock=clock)
    async with application.router.lifespan_context(application):
        await polled(application, 1)  # the first poll declares the job: due at T0 + EVERY
        yield application


async def polled(app: Any, count: int) -> None:
    runner: Runner = app.state.jobs
    async with asyncio.timeout(WAIT):
        await runner.polled(count)


async def tick(app: Any, clock: ManualClock, by: timedelta = POLL) -> None:
    """Advance the clock (at least one poll interval) and wait for the one poll that follows."""
    assert by >= POLL
    runner: Runner = app.state.jobs
    count = runner.polls
    clock.advance(by)
    await polled(app, count + 1)
