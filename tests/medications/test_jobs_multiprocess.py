"""Two processes, each with its own runner and clock on the same PostgreSQL database, both running the
real safety-task job: each recurring task appears once per period, never twice.

Same pattern as tests/referrals/test_clocks_multiprocess.py. ``shared``: both runners declare the job under
its real name (the runner's claim lets one process run each due time); ``own``: each has it under a name of
its own, so both run it in the same poll, at once: only the unique key (plan, kind, period) keeps each task
to one. The clocks cross into a new quarter and year, so the second period's tasks are raced for too.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import text

from careteam.accounts.tables import User
from careteam.core.actor import actor_of
from careteam.db import migrate
from careteam.db.engine import make_engine, make_sessionmaker, unit_of_work
from careteam.medications import service as medications
from careteam.medications.codes import Drug, Frequency
from careteam.medications.schemas import MedicationCreate
from tests.conftest import PG_ADMIN_URL, run_database, run_database_url
from tests.jobs.conftest import T0
from tests.jobs.test_multiprocess import ROOT, Worker, _all_advance_and_poll
from tests.medications.world import make_world

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(not PG_ADMIN_URL, reason="needs CARETEAM_TEST_DATABASE_URL"),
]

JOB = "medications.safety_tasks"


class SafetyWorker(Worker):
    @classmethod
    async def start_at(cls, url: str, offset: timedelta, job_name: str) -> SafetyWorker:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tests.medications.safety_worker",
            url,
            (T0 + offset).isoformat(),
            job_name,
            cwd=ROOT,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        return cls(proc)


@pytest.fixture
async def url() -> AsyncIterator[str]:
    name = run_database("safety_tasks")
    admin = make_engine(PG_ADMIN_URL)
    async with admin.connect() as conn:
        conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await conn.execute(text(f'CREATE DATABASE "{name}"'))
    await admin.dispose()
    url = run_database_url("safety_tasks")
    await asyncio.to_thread(migrate.upgrade, url)
    yield url


async def _seed(url: str) -> int:
    """Robert Chen's plan on oxycodone and a fentanyl patch, two plans more on methadone."""
    engine = make_engine(url)
    sessions = make_sessionmaker(engine)
    try:
        plans = []
        for n in range(3):
            w = await make_world(lambda: unit_of_work(sessions))
            async with unit_of_work(sessions) as s:
                user = await s.get(User, w.id("physician"))
                assert user is not None
                drugs = [
                    (Drug.oxycodone, 10, Frequency.q6h),
                    (Drug.fentanyl_transdermal, 25, Frequency.continuous),
                ]
                for drug, dose, frequency in drugs if n == 0 else [(Drug.methadone, 5, Frequency.bid)]:
                    body = MedicationCreate(drug=drug, dose=dose, frequency=frequency)
                    await medications.add_medication(
                        s, w.plan_id, body, actor=actor_of(user), today=T0.date()
                    )
            plans.append(w.plan_id)
        return len(plans)
    finally:
        await engine.dispose()


async def _rows(url: str, sql: str) -> list[tuple[Any, ...]]:
    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            return [tuple(r) for r in (await conn.execute(text(sql))).all()]
    finally:
        await engine.dispose()


@pytest.mark.parametrize("names", ["shared", "own"])
async def test_two_processes_make_each_safety_task_once_per_period(url: str, names: str) -> None:
    plans = await _seed(url)
    # 31 Dec 2026 22:00 (and 30 s later): the job's first run is in 2026, a later one in 2027.
    start = timedelta(days=30, hours=14)
    offsets = [start, start + timedelta(seconds=30)]
    job_names = [JOB, JOB] if names == "shared" else [f"{JOB}.a", f"{JOB}.b"]
    workers = [
        await SafetyWorker.start_at(url, offset, name)
        for offset, name in zip(offsets, job_names, strict=True)
    ]
    try:
        await asyncio.gather(*(w.polled(1) for w in workers))  # declared: due an hour after each start
        for _ in range(4):  # 23:00, 00:00 (a new quarter and year), 01:00, 02:00
            await _all_advance_and_poll(workers, timedelta(hours=1))
    finally:
        for worker in workers:
            await worker.stop()

    keys = await _rows(
        url,
        "SELECT plan_id, kind, period_start, count(*) FROM medication_safety_task "
        "GROUP BY 1, 2, 3 ORDER BY 1, 2, 3",
    )
    assert {n for *_, n in keys} == {1}, keys
    periods = sorted({p for _, _, p, _ in keys})
    assert periods == [date(2026, 1, 1), date(2026, 10, 1), date(2027, 1, 1)], periods
    assert len(keys) == plans * 5 * 2  # five tasks, two periods (this year's and next year's)
    tasks = await _rows(
        url,
        "SELECT t.plan_id, t.title, t.due_date, count(*) FROM task t "
        "JOIN medication_safety_task m ON m.task_id = t.id GROUP BY 1, 2, 3",
    )
    assert len(tasks) == plans * 10 and {n for *_, n in tasks} == {1}, tasks
    orphans = await _rows(url, "SELECT count(*) FROM task WHERE title = 'PDMP check'")
    assert orphans == [(plans * 2,)]  # no task made by a run whose key lost the race
