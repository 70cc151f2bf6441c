"""Where features declare their scheduled jobs: a name, when it runs, and what it does.

    from careteam.jobs.registry import JOBS

    @JOBS.job("referrals.escalate_overdue", every=timedelta(minutes=5))
    async def escalate_overdue(session: AsyncSession, *, now: datetime) -> None:
        ...  # service calls; events recorded here reach live viewers after the commit

The function runs inside one unit of work (the runner commits, never the job) and gets the clock's time as
``now``: compare deadlines with it, never with the system time, so tests can move it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from sqlmodel.ext.asyncio.session import AsyncSession

NAME_MAX = 100  # scheduled_job.name


class JobFunc(Protocol):
    def __call__(self, session: AsyncSession, *, now: datetime) -> Awaitable[None]: ...


class Schedule(Protocol):
    def first(self, now: datetime) -> datetime:
        """When a job seen for the first time is first due."""
        ...

    def next_after(self, due: datetime, now: datetime) -> datetime:
        """When a job due at ``due`` and run at ``now`` is due next; always later than ``now``."""
        ...


@dataclass(frozen=True)
class Every:
    """Every ``interval``, on a fixed cadence from the first due time; runs missed while no process served
    are not caught up one by one: the next is the first of the cadence after ``now``."""

    interval: timedelta

    def __post_init__(self) -> None:
        if self.interval <= timedelta(0):
            raise ValueError("a job's interval must be positive")

    def first(self, now: datetime) -> datetime:
        return now + self.interval

    def next_after(self, due: datetime, now: datetime) -> datetime:
        if now < due:
            return due + self.interval
        return due + self.interval * ((now - due) // self.interval + 1)


@dataclass(frozen=True)
class Job:
    name: str
    schedule: Schedule
    run: JobFunc


class Registry:
    """Jobs by name; the app's runner runs those of ``JOBS``, tests make their own."""

    def __init__(self) -> None:
        self._jobs: dict[str, Job] = {}

    def add(
        self, name: str, run: JobFunc, *, every: timedelta | None = None, schedule: Schedule | None = None
    ) -> Job:
        if (every is None) == (schedule is None):
            raise ValueError("give a job either every= or schedule=")
        if not name or len(name) > NAME_MAX:
            raise ValueError(f"a job's name has 1 to {NAME_MAX} characters: {name!r}")
        if name in self._jobs:
            raise ValueError(f"job {name!r} is declared twice")
        job = Job(name, schedule if schedule is not None else Every(every or timedelta(0)), run)
        self._jobs[name] = job
        return job

    def job(
        self, name: str, *, every: timedelta | None = None, schedule: Schedule | None = None
    ) -> Callable[[JobFunc], JobFunc]:
        """Decorator form of ``add``."""

        def declare(run: JobFunc) -> JobFunc:
            self.add(name, run, every=every, schedule=schedule)
            return run

        return declare

    def __getitem__(self, name: str) -> Job:
        return self._jobs[name]

    def __iter__(self) -> Iterator[Job]:
        return iter(self._jobs.values())

    def __len__(self) -> int:
        return len(self._jobs)


# The application's jobs. Empty until a feature declares one (referral respond-by escalation, recurring
# safety tasks, reminders); the runner then runs it in every serving process, each due time once.
JOBS = Registry()
