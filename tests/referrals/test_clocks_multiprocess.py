"""Two processes, each with its own runner and clock on the same PostgreSQL database, both past the
respond-by of the same referrals: each overdue referral is escalated once, one notification per recipient.

Same pattern as tests/jobs/test_multiprocess.py (``tests/referrals/escalation_worker.py`` reports its polls
on stdout; the test advances the clocks through stdin and waits for polls, never for time). Two set-ups:

- ``shared``: both runners declare the job under its real name, as two serving processes do; the runner's
  claim lets one process run each due time, and the other process's later due times find nothing left.
- ``own``: each runner has the job under a name of its own, so both processes run the escalation in the same
  poll, at once, each with its own clock: only the service (``escalated_at``, ``FOR UPDATE SKIP LOCKED``, the
  notifications' dedup key) keeps it exactly once.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import text

from careteam.accounts.tables import User
from careteam.core.actor import actor_of
from careteam.core.vocab import Discipline
from careteam.db import migrate
from careteam.db.engine import make_engine, make_sessionmaker, unit_of_work
from careteam.referrals import service as referrals
from careteam.referrals.codes import ReferralPriority
from careteam.referrals.schemas import ReferralCreate
from careteam.referrals.tables import Referral
from tests.conftest import PG_ADMIN_URL, run_database, run_database_url
from tests.jobs.conftest import T0
from tests.jobs.test_multiprocess import ROOT, Worker, _all_advance_and_poll
from tests.referrals.world import World, make_world

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(not PG_ADMIN_URL, reason="needs CARETEAM_TEST_DATABASE_URL"),
]

JOB = "referrals.escalate_overdue"
STAT = timedelta(hours=8)


class EscalationWorker(Worker):
    @classmethod
    async def start_at(cls, url: str, offset: timedelta, job_name: str) -> EscalationWorker:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tests.referrals.escalation_worker",
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
    """A database of this run's own (dropped with the run), at head, with the workers' probe table."""
    name = run_database("referral_clocks")
    admin = make_engine(PG_ADMIN_URL)
    async with admin.connect() as conn:
        conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await conn.execute(text(f'CREATE DATABASE "{name}"'))
    await admin.dispose()
    url = run_database_url("referral_clocks")
    await asyncio.to_thread(migrate.upgrade, url)
    engine = make_engine(url)
    async with engine.begin() as conn:
        await conn.execute(
            text("CREATE TABLE job_probe (pid integer NOT NULL, due timestamptz NOT NULL, escalated integer)")
        )
    await engine.dispose()
    yield url


async def _seed(url: str) -> tuple[World, dict[str, int]]:
    """Ellen's team, and three referrals made at T0: two ``stat`` (due T0 + 8 h; one by the physician, one
    by the lead) and one routine (due in 14 days, so never overdue here)."""
    engine = make_engine(url)
    sessions = make_sessionmaker(engine)
    try:
        w = await make_world(lambda: unit_of_work(sessions))
        made: dict[str, int] = {}
        for label, who, priority in (
            ("by_physician", "physician", ReferralPriority.stat),
            ("by_lead", "lead", ReferralPriority.stat),
            ("routine", "physician", ReferralPriority.routine),
        ):
            async with unit_of_work(sessions) as s:
                user = await s.get(User, w.id(who))
                assert user is not None
                body = ReferralCreate(
                    plan_id=w.plan_id,
                    discipline=Discipline.psychologist,
                    reason=f"CBT for pain catastrophising ({label})",
                    priority=priority,
                )
                made[label] = (await referrals.create_referral(s, body, actor=actor_of(user), now=T0)).id
        return w, made
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
async def test_two_processes_past_the_deadline_escalate_each_referral_once(url: str, names: str) -> None:
    w, made = await _seed(url)
    # Each process has its own clock, both past the respond-by (T0 + 8 h), not both at the same time.
    offsets = [STAT + timedelta(hours=1), STAT + timedelta(hours=1, seconds=30)]
    job_names = [JOB, JOB] if names == "shared" else [f"{JOB}.a", f"{JOB}.b"]
    workers = [
        await EscalationWorker.start_at(url, offset, name)
        for offset, name in zip(offsets, job_names, strict=True)
    ]
    try:
        await asyncio.gather(*(w.polled(1) for w in workers))  # declared: due a minute after each start
        # Three rounds; in each, every runner completes polls begun after its clock passed a due time.
        for _ in range(3):
            await _all_advance_and_poll(workers, timedelta(minutes=1))
    finally:
        for worker in workers:
            await worker.stop()

    runs = await _rows(url, "SELECT pid, escalated FROM job_probe")
    pids = {worker.proc.pid for worker in workers}
    assert runs and {pid for pid, _ in runs} <= pids, runs
    if names == "own":
        assert {pid for pid, _ in runs} == pids, runs  # both processes did run the escalation
    assert sum(n for _, n in runs) == 2, runs  # each overdue referral escalated by exactly one run

    notified = await _rows(
        url,
        "SELECT user_id, referral_id, count(*) FROM notification WHERE kind = 'referral.overdue' "
        "GROUP BY user_id, referral_id ORDER BY referral_id, user_id",
    )
    expected = [
        (w.id("lead"), made["by_physician"], 1),
        (w.id("physician"), made["by_physician"], 1),
        (w.id("lead"), made["by_lead"], 1),
    ]
    assert sorted(notified) == sorted(expected)
    events = await _rows(
        url,
        "SELECT (data->>'id')::int, count(*) FROM stream_event WHERE kind = 'referral.overdue' "
        "GROUP BY 1 ORDER BY 1",
    )
    assert events == sorted([(made["by_physician"], 1), (made["by_lead"], 1)])
    escalated = await _rows(url, f"SELECT id FROM {Referral.__tablename__} WHERE escalated_at IS NOT NULL")
    assert sorted(r[0] for r in escalated) == sorted([made["by_physician"], made["by_lead"]])
