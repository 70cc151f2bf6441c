"""The recurring opioid-safety tasks: the real ``medications.safety_tasks`` job on a manual clock. Each
plan with an active opioid gets each task once per period, in its lane, due at the period's end; the next
period brings the next one; a plan off opioids gets none."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date, timedelta
from typing import Any

import pytest
from sqlmodel import col, select

from careteam.app import create_app
from careteam.jobs.clock import ManualClock
from careteam.jobs.registry import JOBS, Registry
from careteam.medications import jobs as medication_jobs
from careteam.medications.tables import SafetyTaskRun
from careteam.plans.tables import Task
from careteam.settings import Settings
from tests.jobs.conftest import POLL, T0, polled, tick
from tests.medications.world import make_world

JOB = "medications.safety_tasks"
TITLES = {
    "PDMP check": "nurse",
    "UDS due": "nurse",
    "Opioid agreement renewal": "nurse",
    "Naloxone offered and documented": "nurse",
    "Opioid reassessment (3-monthly)": "physician",
}


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)  # 2026-12-01 08:00 UTC


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"jobs_poll_seconds": POLL.total_seconds(), "jobs_enabled": True})


@pytest.fixture
async def app(settings: Settings, clock: ManualClock) -> AsyncIterator[Any]:
    jobs = Registry()
    real = JOBS[JOB]
    assert real.run is medication_jobs.safety_tasks
    jobs.add(JOB, real.run, schedule=real.schedule)
    application = create_app(settings, jobs=jobs, clock=clock)
    async with application.router.lifespan_context(application):
        await polled(application, 1)  # declared: first due an hour after T0
        yield application


async def safety_tasks(db: Any, plan_id: int) -> list[tuple[str, str, date | None]]:
    async with db() as s:
        rows = await s.exec(
            select(Task.title, Task.discipline, Task.due_date)
            .join(SafetyTaskRun, col(SafetyTaskRun.task_id) == col(Task.id))
            .where(Task.plan_id == plan_id)
            .order_by(col(Task.id))
        )
        return [(str(t), str(d), due) for t, d, due in rows]


async def test_each_task_once_per_period_in_its_lane(
    app: Any, client: Any, db: Any, login: Any, clock: ManualClock
) -> None:
    w = await make_world(db)
    h = await login(w.names["physician"])
    r = await client.post(
        f"/api/v1/plans/{w.plan_id}/medications",
        json={"drug": "oxycodone", "dose": 10, "frequency": "q6h"},
        headers=h,
    )
    assert r.status_code == 201, r.text
    apixaban_only = w.other_plan_id  # the outsider's plan: no opioid, never any task

    await tick(app, clock, timedelta(hours=1))  # due: runs
    made = await safety_tasks(db, w.plan_id)
    assert sorted((t, d) for t, d, _ in made) == sorted(TITLES.items())
    due = {t: d for t, _, d in made}
    assert due["PDMP check"] == date(2026, 12, 31) and due["UDS due"] == date(2026, 12, 31)
    assert await safety_tasks(db, apixaban_only) == []

    for _ in range(3):  # later runs in the same period make nothing new
        await tick(app, clock, timedelta(hours=1))
    assert len(await safety_tasks(db, w.plan_id)) == 5

    # Into January: a new quarter and a new year, so every task comes again, once.
    await tick(app, clock, timedelta(days=31))
    await tick(app, clock, timedelta(hours=1))
    again = await safety_tasks(db, w.plan_id)
    assert len(again) == 10
    assert sorted(t for t, _, d in again if d and d.year == 2027) == sorted(TITLES)
    assert {d for t, _, d in again[5:] if t == "PDMP check"} == {date(2027, 3, 31)}

    # Stopped: the next quarter brings nothing.
    med = (await client.get(f"/api/v1/plans/{w.plan_id}/medications", headers=h)).json()["items"][0]
    r = await client.patch(
        f"/api/v1/medications/{med['id']}",
        json={"status": "stopped"},
        headers={**h, "If-Match": f'W/"{med["version"]}"'},
    )
    assert r.status_code == 200, r.text
    await tick(app, clock, timedelta(days=90))
    await tick(app, clock, timedelta(hours=1))
    assert len(await safety_tasks(db, w.plan_id)) == 10
