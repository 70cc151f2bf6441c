"""The runner on a manual clock: a job runs when it is due and not before, once per due time; a failing
job is logged, leaves nothing behind, and runs again at its next time; a job's events reach live viewers."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

import pytest
from prometheus_client import REGISTRY
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from careteam.jobs.clock import ManualClock
from careteam.jobs.registry import Every, Registry
from careteam.jobs.tables import ScheduledJob
from careteam.plans.tables import CarePlan
from tests.factories import emit, make_patient, make_plan
from tests.jobs.conftest import EVERY, T0, Probe, tick
from tests.realtime.conftest import Open, Team


async def _row(db: Any) -> ScheduledJob:
    async with db() as session:
        return (await session.exec(select(ScheduledJob).where(ScheduledJob.name == "probe"))).one()


async def test_a_due_job_runs_once_when_its_time_comes_and_not_before(
    app: Any, db: Any, clock: ManualClock, probe: Probe
) -> None:
    assert (await _row(db)).next_run_at == T0 + EVERY
    await tick(app, clock, EVERY - timedelta(seconds=1))
    assert probe.runs == []

    clock.advance(timedelta(seconds=1))
    await probe.ran(1)
    await tick(app, clock)
    await tick(app, clock)
    assert probe.runs == [T0 + EVERY]
    row = await _row(db)
    assert (row.next_run_at, row.last_run_at, row.failures) == (T0 + 2 * EVERY, T0 + EVERY, 0)

    await tick(app, clock, EVERY)
    assert probe.runs == [T0 + EVERY, T0 + 2 * EVERY + timedelta(seconds=2)]


async def test_runs_missed_while_no_process_served_are_not_caught_up_one_by_one(
    app: Any, db: Any, clock: ManualClock, probe: Probe
) -> None:
    await tick(app, clock, 5 * EVERY + timedelta(minutes=10))
    await tick(app, clock)
    assert len(probe.runs) == 1
    assert (await _row(db)).next_run_at == T0 + 6 * EVERY


async def test_a_failing_job_is_logged_rolled_back_and_retried_at_its_next_time(
    app: Any, db: Any, clock: ManualClock, probe: Probe, caplog: pytest.LogCaptureFixture
) -> None:
    async with db() as session:
        plan_id = (await make_plan(session, await make_patient(session))).id or 0

    async def fail_once(session: AsyncSession, now: datetime) -> None:
        await emit(session, plan_id)
        if len(probe.runs) == 1:
            raise RuntimeError("referral service unreachable")

    probe.work = fail_once
    with caplog.at_level(logging.ERROR, logger="careteam.jobs.runner"):
        await tick(app, clock, EVERY)
    assert len(probe.runs) == 1
    assert "scheduled job probe failed" in caplog.text and "referral service unreachable" in caplog.text
    row = await _row(db)
    assert row.failures == 1 and row.last_error == "RuntimeError: referral service unreachable"
    assert row.next_run_at == T0 + 2 * EVERY and row.last_run_at is None
    async with db() as session:
        assert (await session.get(CarePlan, plan_id)).last_seq == 0  # type: ignore[union-attr]

    await tick(app, clock)  # no retry before its next time
    assert len(probe.runs) == 1

    await tick(app, clock, EVERY)  # the runner survived the failure and runs it again
    assert len(probe.runs) == 2
    row = await _row(db)
    assert (row.failures, row.last_error, row.last_run_at) == (0, None, T0 + 2 * EVERY + timedelta(seconds=1))
    async with db() as session:
        assert (await session.get(CarePlan, plan_id)).last_seq == 1  # type: ignore[union-attr]


async def test_job_runs_are_counted_by_outcome_for_operators(
    app: Any, clock: ManualClock, probe: Probe
) -> None:
    def runs(outcome: str) -> float:
        labels = {"job": "probe", "outcome": outcome}
        return REGISTRY.get_sample_value("careteam_job_runs_total", labels) or 0.0

    async def fail_once(session: AsyncSession, now: datetime) -> None:
        if len(probe.runs) == 1:
            raise RuntimeError("referral service unreachable")

    probe.work = fail_once
    ok, failed = runs("ok"), runs("failed")
    await tick(app, clock, EVERY)
    assert (runs("ok") - ok, runs("failed") - failed) == (0, 1)
    await tick(app, clock, EVERY)
    assert (runs("ok") - ok, runs("failed") - failed) == (1, 1)


async def test_a_jobs_events_reach_live_viewers(
    app: Any, clock: ManualClock, probe: Probe, team: Team, login: Any, open_viewer: Open
) -> None:
    async def write(session: AsyncSession, now: datetime) -> None:
        await emit(session, team.plan_id, kind="task.created")

    probe.work = write
    viewer = await open_viewer(await login(team.nurse.username))
    await viewer.send({"type": "subscribe", "plan_id": team.plan_id, "after": 0})
    assert (await viewer.recv())["type"] == "subscribed"
    clock.advance(EVERY)
    (event,) = await viewer.events(1)
    assert (event["plan_id"], event["seq"], event["kind"]) == (team.plan_id, 1, "task.created")


def test_a_job_is_declared_once_with_a_positive_interval() -> None:
    jobs = Registry()
    jobs.add("probe", Probe(), every=EVERY)
    with pytest.raises(ValueError, match="declared twice"):
        jobs.add("probe", Probe(), every=EVERY)
    with pytest.raises(ValueError, match="positive"):
        jobs.add("other", Probe(), every=timedelta(0))
    with pytest.raises(ValueError, match="either"):
        jobs.add("other", Probe())
    assert Every(EVERY).next_after(T0, T0 + EVERY) == T0 + 2 * EVERY
