"""One runner in a process of its own, for tests/jobs/test_multiprocess.py.

``python -m tests.jobs.worker DATABASE_URL START``: a runner on a manual clock set to START (ISO 8601) with
one job, ``probe`` (every hour), that inserts a row into ``job_probe`` naming this process. Each line
``advance SECONDS`` on stdin advances the clock; after each poll the worker prints ``polls N``. Exits when
stdin closes.
"""

from __future__ import annotations

import asyncio
import os
import sys
from datetime import datetime, timedelta

from sqlalchemy import text
from sqlmodel.ext.asyncio.session import AsyncSession

from careteam.db.engine import make_engine, make_sessionmaker
from careteam.jobs.clock import ManualClock
from careteam.jobs.registry import Registry
from careteam.jobs.runner import Runner

EVERY = timedelta(hours=1)
POLL_SECONDS = 1.0


async def probe(session: AsyncSession, *, now: datetime) -> None:
    await session.execute(
        text("INSERT INTO job_probe (pid, due) VALUES (:pid, :due)"), {"pid": os.getpid(), "due": now}
    )
    # Hold the claim a moment: the other process polls meanwhile and must skip the locked row.
    await asyncio.sleep(0.3)


async def serve(url: str, start: datetime, jobs: Registry) -> None:
    """Run ``jobs`` on a manual clock from ``start``, printing each poll, until stdin closes; each line
    ``advance <seconds>`` moves the clock. Other workers (tests/referrals/escalation_worker.py) reuse it."""
    engine = make_engine(url)
    clock = ManualClock(start)
    runner = Runner(make_sessionmaker(engine), jobs, clock=clock, poll_seconds=POLL_SECONDS)

    async def report() -> None:
        while True:
            await runner.polled(runner.polls + 1)
            print(f"polls {runner.polls}", flush=True)

    reporting = asyncio.create_task(report())
    await runner.start()
    try:
        while line := await asyncio.to_thread(sys.stdin.readline):
            command, _, seconds = line.partition(" ")
            assert command == "advance", line
            clock.advance(float(seconds))
    finally:
        await runner.stop()
        reporting.cancel()
        await engine.dispose()


async def main(url: str, start: datetime) -> None:
    jobs = Registry()
    jobs.add("probe", probe, every=EVERY)
    await serve(url, start, jobs)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], datetime.fromisoformat(sys.argv[2])))
