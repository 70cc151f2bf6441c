"""Time for the job runner: the system's, or a manual one that tests advance.

The runner asks for the time (``now``) and waits for a moment (``sleep_until``), never ``asyncio.sleep``,
so a test moves time forward and the runner wakes at once, with no real waiting and no race: a deadline
already passed when the runner starts waiting returns at once.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Protocol

from careteam.db.types import utcnow


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware UTC."""
        ...

    async def sleep_until(self, when: datetime) -> None:
        """Return once ``now() >= when`` (at once if it already is)."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return utcnow()

    async def sleep_until(self, when: datetime) -> None:
        delay = (when - utcnow()).total_seconds()
        if delay > 0:
            await asyncio.sleep(delay)


class ManualClock:
    """Stands still until ``advance``; waiters whose time has come wake on the advance, in the same loop."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("a clock's time is timezone-aware")
        self._now = start.astimezone(UTC)
        self._waiters: list[tuple[datetime, asyncio.Future[None]]] = []

    def now(self) -> datetime:
        return self._now

    def advance(self, by: timedelta | float) -> datetime:
        """Move time forward (``by`` seconds if a number); returns the new time."""
        step = by if isinstance(by, timedelta) else timedelta(seconds=by)
        if step < timedelta(0):
            raise ValueError("time does not go back")
        self._now += step
        waiting = []
        for when, future in self._waiters:
            if when <= self._now:
                if not future.done():
                    future.set_result(None)
            else:
                waiting.append((when, future))
        self._waiters = waiting
        return self._now

    async def sleep_until(self, when: datetime) -> None:
        if when <= self._now:
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append((when, future))
        await future
