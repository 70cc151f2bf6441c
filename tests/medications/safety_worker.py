"""The real safety-task job in a runner of its own process (tests/medications/test_jobs_multiprocess.py).

``python -m tests.medications.safety_worker DATABASE_URL START JOB_NAME``: a runner on a manual clock set to
START whose one job, named JOB_NAME, is the real ``medications.safety_tasks`` (same schedule). Same
protocol as ``tests/jobs/worker.py``: ``advance SECONDS`` on stdin, ``polls N`` on stdout.
"""

from __future__ import annotations

import asyncio
import sys
from datetime import datetime

import careteam.tables  # noqa: F401 - registers every feature's tables
from careteam.jobs.registry import JOBS, Registry
from careteam.medications import jobs as _jobs  # noqa: F401 - declares the job
from tests.jobs.worker import serve

REAL = "medications.safety_tasks"


async def main(url: str, start: datetime, name: str) -> None:
    jobs = Registry()
    jobs.add(name, JOBS[REAL].run, schedule=JOBS[REAL].schedule)
    await serve(url, start, jobs)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], datetime.fromisoformat(sys.argv[2]), sys.argv[3]))
