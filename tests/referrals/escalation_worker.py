"""The real escalation job in a runner of its own process (tests/referrals/test_clocks_multiprocess.py).

``python -m tests.referrals.escalation_worker DATABASE_URL START JOB_NAME``: a runner on a manual clock set
to START (ISO 8601) whose one job, named JOB_NAME, is the real ``referrals.escalate_overdue`` (same
schedule), followed by a row in ``job_probe`` naming this process, the clock time and how many referrals
this run escalated. Each line ``advance SECONDS`` on stdin advances the clock; after each poll the worker
prints ``polls N``. Exits when stdin closes. (Same protocol as ``tests/jobs/worker.py``.)
"""

from __future__ import annotations

import asyncio
import os
import sys
from datetime import datetime

from sqlalchemy import text
from sqlmodel.ext.asyncio.session import AsyncSession

import careteam.tables  # noqa: F401 - registers every feature's tables
from careteam.jobs.registry import JOBS, Registry
from careteam.referrals import jobs as _jobs  # noqa: F401 - declares the escalation job
from careteam.referrals import service as referrals
from tests.jobs.worker import serve

REAL = "referrals.escalate_overdue"


async def escalate_and_record(session: AsyncSession, *, now: datetime) -> None:
    # The service function the real job calls, so that this run's count can be recorded beside it.
    assert JOBS[REAL].run.__module__ == "careteam.referrals.jobs"
    escalated = await referrals.escalate_overdue(session, now=now)
    await session.execute(
        text("INSERT INTO job_probe (pid, due, escalated) VALUES (:pid, :due, :n)"),
        {"pid": os.getpid(), "due": now, "n": escalated},
    )


async def main(url: str, start: datetime, name: str) -> None:
    jobs = Registry()
    jobs.add(name, escalate_and_record, schedule=JOBS[REAL].schedule)
    await serve(url, start, jobs)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], datetime.fromisoformat(sys.argv[2]), sys.argv[3]))
