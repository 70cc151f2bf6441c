"""The scheduled-job runner: one per serving process, each due time of a job run by exactly one of them.

How a due job is claimed. Every poll, a process opens a unit of work and takes the row of one due job with
``SELECT ... FOR UPDATE SKIP LOCKED``; it runs the job in that same transaction and moves ``next_run_at``
to the next due time before the commit. The claim, the job's writes and the new due time commit together
or not at all. Another process polling meanwhile skips the locked row (it never waits behind a running
job), and once the winner commits the row is no longer due. An advisory lock was the other candidate: it
would serialise whole polls rather than single jobs, needs its own key scheme, and (session-level) can
outlive a rolled-back transaction on a pooled connection; the row lock ends with the transaction by
construction. SQLite serves one process: ``FOR UPDATE`` renders as nothing there, and the unit of work's
``BEGIN IMMEDIATE`` write lock makes claims of other processes (the CLI) queue instead.

If the job raises, its writes are rolled back to a savepoint taken just before it ran, the failure is
logged and counted on the row (``failures``, ``last_error``), and ``next_run_at`` still moves on: a
failing job is retried at its next due time, not in a hot loop, and the runner goes on with the next job
and the next poll. Events the job recorded before failing are dropped with its writes, never published.
If the database itself fails (connection lost) the whole transaction rolls back, the job stays due, and
the next poll of any process tries again.

If a process dies mid-job, PostgreSQL ends its session and rolls the transaction back: the row lock goes
with it, nothing of the job is committed, the job is still due, and the next poll of a surviving process
runs it. So a due time is run at most once per committed result; a job whose work leaves the database
(mail, HTTP) must tolerate a repeat after such a crash, or record what it sent in the same transaction.

After the commit, the unit of work publishes the events the job recorded (``events.record`` registers the
hook; the app's sessions carry the hub-and-broker publisher), so a job's change reaches live viewers as a
route's does.

Why no library. APScheduler 3's documented limit is that a job store must not be shared by several
processes (each scheduler runs every due job: duplicates), so it would need a lock of our own around
every job anyway. APScheduler 4 coordinates several schedulers over PostgreSQL, but it is still a
pre-release that its author says not to use in production, brings its own tables, event broker and
serialisation, and runs jobs outside our unit of work and its publish-on-commit. Celery beat, arq and
friends need a separate process and a queue. The part that matters here (claim, run, advance in one
transaction) is one statement plus a savepoint, so careteam keeps it in about a hundred lines.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import datetime, timedelta

from sqlalchemy import update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import SQLModel, col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from careteam import metrics
from careteam.db import outage
from careteam.db.engine import unit_of_work
from careteam.events import log as events
from careteam.jobs.clock import Clock
from careteam.jobs.registry import Registry
from careteam.jobs.tables import ScheduledJob

log = logging.getLogger(__name__)

# What a job's failure leaves on its row: type and message, cut to the column.
ERROR_MAX = 2000


class Runner:
    """Polls every ``poll_seconds`` of ``clock`` time and runs each job that is due, once."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        jobs: Registry,
        *,
        clock: Clock,
        poll_seconds: float,
    ) -> None:
        self._sessions = sessions
        self._jobs = jobs
        self._clock = clock
        self._poll = timedelta(seconds=poll_seconds)
        self._declared = False
        self._polls = 0
        self._poll_waiters: list[tuple[int, asyncio.Future[None]]] = []
        self._task: asyncio.Task[None] | None = None

    @property
    def polls(self) -> int:
        """Polls completed since start (a poll that failed as a whole counts too)."""
        return self._polls

    async def start(self) -> None:
        """Start polling; with no job declared there is nothing to poll for and nothing starts."""
        if len(self._jobs) and self._task is None:
            self._task = asyncio.create_task(self._loop(), name="careteam-jobs")

    async def stop(self) -> None:
        """Stop polling; a job still running is cancelled and its transaction rolled back."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def polled(self, count: int) -> None:
        """Return once ``polls >= count``: tests and the multi-process probe wait on it, never on time."""
        if self._polls >= count:
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._poll_waiters.append((count, future))
        await future

    async def run_due(self) -> list[str]:
        """One poll: run every job due now that no other process has claimed; their names, in run order."""
        if not self._declared:
            await self._declare()
            self._declared = True
        now = self._clock.now()
        left = {job.name for job in self._jobs}
        ran: list[str] = []
        while left:
            name = await self._run_one(left, now)
            if name is None:
                break
            left.discard(name)
            ran.append(name)
        return ran

    async def _loop(self) -> None:
        while True:
            started = self._clock.now()
            try:
                await self.run_due()
            except Exception as exc:
                # The database is away, most likely (one log line per outage): every job stays due, the next
                # poll tries again.
                outage.report(exc, log, "scheduled jobs: poll failed")
            self._polls += 1
            self._wake_poll_waiters()
            await self._clock.sleep_until(started + self._poll)

    def _wake_poll_waiters(self) -> None:
        waiting = []
        for count, future in self._poll_waiters:
            if self._polls >= count:
                if not future.done():
                    future.set_result(None)
            else:
                waiting.append((count, future))
        self._poll_waiters = waiting

    async def _declare(self) -> None:
        """A row for each declared job not seen before (first due per its schedule); others are kept."""
        now = self._clock.now()
        table = SQLModel.metadata.tables[ScheduledJob.__tablename__]
        rows = [
            {"name": job.name, "next_run_at": job.schedule.first(now), "failures": 0} for job in self._jobs
        ]
        async with unit_of_work(self._sessions) as session:
            insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
            # Several processes start at once: the first row written wins, the others change nothing.
            await session.exec(insert(table).values(rows).on_conflict_do_nothing(index_elements=["name"]))

    async def _run_one(self, names: set[str], now: datetime) -> str | None:
        """Claim one due job among ``names`` and run it; its name, or None if none is due and unclaimed."""
        async with unit_of_work(self._sessions) as session:
            claimed = (
                await session.exec(
                    select(ScheduledJob)
                    .where(col(ScheduledJob.name).in_(names), col(ScheduledJob.next_run_at) <= now)
                    .order_by(col(ScheduledJob.next_run_at))
                    .limit(1)
                    .with_for_update(skip_locked=True)
                )
            ).first()
            if claimed is None:
                return None
            job = self._jobs[claimed.name]
            due = claimed.next_run_at
            outcome: dict[str, object]
            result = "ok"
            try:
                async with session.begin_nested():
                    await job.run(session, now=now)
            except Exception as exc:
                outage.report(exc, log, "scheduled job %s failed; next try at its next due time", job.name)
                # Rolled back with the savepoint: nothing of it may be announced after the commit.
                events.discard_unpublished(session)
                error = f"{type(exc).__name__}: {exc}"[:ERROR_MAX]
                result = "failed"
                outcome = {"failures": col(ScheduledJob.failures) + 1, "last_error": error}
            else:
                outcome = {"failures": 0, "last_error": None, "last_run_at": now}
            # Core, not the loaded object: a rolled-back savepoint may have expired it.
            await session.exec(
                update(ScheduledJob)
                .where(col(ScheduledJob.name) == job.name)
                .values(next_run_at=job.schedule.next_after(due, now), **outcome)
            )
        # Counted once committed: a run rolled back with its poll (the database went away) did not happen.
        metrics.job_ran(job.name, result)
        return job.name
