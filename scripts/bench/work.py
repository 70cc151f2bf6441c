"""Part 6: My work's first page for a clinician on 50 patients with 2,000 open tasks, as JSON and as the page.

In-process like the board part (httpx ASGITransport, pinned to the server's CPU, every SQL statement counted
on the app's engine). The clinician is a nurse of her own (not the fan-out's nurse, whose list the board
part fills): on ``patients`` care teams, each with one plan of ``tasks // patients`` open tasks that are hers
(assigned to her, or unassigned in the nursing lane), due from weeks ago to months ahead or never, plus as
many again that are not hers (done, or another lane's), which the query must skip; and per patient a referral
waiting in the nurses' pool (hers to answer) and one in the physios' (not hers). The statement count is
read at ``patients_small`` patients too: it must not change with the number of patients.
"""

from __future__ import annotations

import asyncio
import os
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from common import Cores, counting_statements, pin, say, timed_gets
from systems import SECRET

WARMUP = 3
USERNAME = "bench.worknurse"


@dataclass
class WorkLayout:
    user_id: int
    token: str
    cookie: str


async def _seed(db_url: str, patients: int, tasks: int, *, user_id: int | None = None) -> WorkLayout:
    """Add ``patients`` patients with ``tasks`` open tasks of hers between them (creating her first)."""
    from careteam.accounts.passwords import hash_password
    from careteam.accounts.sessions import open_session
    from careteam.accounts.tables import User
    from careteam.core.vocab import Discipline
    from careteam.db.engine import make_engine, make_sessionmaker, unit_of_work
    from careteam.patients.codes import TeamRole
    from careteam.patients.tables import CareTeam, CareTeamMember, Patient
    from careteam.plans.tables import CarePlan, Task
    from careteam.referrals.tables import Referral
    from careteam.settings import Settings

    engine = make_engine(db_url)
    today = date.today()
    per_patient = tasks // patients
    open_statuses = ["requested", "ready", "in-progress", "on-hold", "accepted"]
    try:
        async with unit_of_work(make_sessionmaker(engine)) as s:
            if user_id is None:
                user = User(
                    username=USERNAME,
                    display_name="Bench Work Nurse, RN",
                    discipline=Discipline.nurse,
                    role="clinician",
                    password_hash=hash_password("bench password long enough"),
                    active=True,
                )
                s.add(user)
                await s.flush()
            else:
                found = await s.get(User, user_id)
                assert found is not None
                user = found
            base = int(time.time() * 1000) % 10**9
            for i in range(patients):
                patient = Patient(
                    mrn=f"WORK-{base}-{i}", name=f"Work Patient {i:03d}", birth_date=date(1960, 1, 1 + i % 28)
                )
                s.add(patient)
                await s.flush()
                team = CareTeam(patient_id=patient.id or 0, name=f"Team of {patient.name}")
                s.add(team)
                await s.flush()
                s.add(
                    CareTeamMember(
                        team_id=team.id or 0, user_id=user.id or 0, role=TeamRole.member, discipline="nurse"
                    )
                )
                plan = CarePlan(patient_id=patient.id or 0, title="Chronic pain plan", status="active")
                s.add(plan)
                await s.flush()
                rows = []
                for k in range(per_patient):
                    offset = (k * 7 + i) % 120 - 30
                    rows.append(
                        Task(
                            plan_id=plan.id or 0,
                            title=f"Follow up {k}: pain diary and UDS",
                            discipline="nurse",
                            assignee_id=user.id if k % 2 == 0 else None,
                            status=open_statuses[k % len(open_statuses)],
                            priority="urgent" if k % 9 == 0 else "routine",
                            due_date=None if k % 13 == 0 else today + timedelta(days=offset),
                            position=1024.0 * (k + 1),
                        )
                    )
                    # Not hers: done, or another lane's and unassigned.
                    rows.append(
                        Task(
                            plan_id=plan.id or 0,
                            title=f"Other {k}",
                            discipline="nurse" if k % 2 else "physical_therapist",
                            status="completed" if k % 2 else "ready",
                            due_date=today + timedelta(days=offset),
                            position=1024.0 * (per_patient + k + 1),
                        )
                    )
                s.add_all(rows)
                # Referrals: one waiting in the nurses' pool (hers to answer), one in the physios' (not hers).
                for k, discipline in enumerate(("nurse", "physical_therapist")):
                    s.add(
                        Referral(
                            plan_id=plan.id or 0,
                            patient_id=patient.id or 0,
                            requester_id=user.id or 0,
                            discipline=discipline,
                            reason="Follow-up call after ESI" if k == 0 else "Core stabilisation after MBB",
                            respond_by=datetime.now(UTC) + timedelta(days=(i % 20) - 5),
                        )
                    )
            settings = Settings(database_url=db_url, secret_key=SECRET)
            token = await open_session(s, user, kind="bearer", settings=settings) if user_id is None else None
            cookie = (
                await open_session(s, user, kind="cookie", settings=settings) if user_id is None else None
            )
            layout = WorkLayout(user.id or 0, token.secret if token else "", cookie.secret if cookie else "")
    finally:
        await engine.dispose()
    return layout


async def _measure(
    db_url: str, patients: int, patients_small: int, tasks: int, requests: int
) -> dict[str, Any]:
    import httpx

    from careteam.app import create_app
    from careteam.settings import Settings

    per_patient = tasks // patients
    layout = await _seed(db_url, patients_small, per_patient * patients_small)
    settings = Settings(
        database_url=db_url,
        broker_url="memory://",
        secret_key=SECRET,
        allowed_origins="http://testserver",
        jobs_enabled=False,
    )
    kinds = {
        "json": ("/api/v1/me/work", {"Authorization": f"Bearer {layout.token}"}),
        "html": ("/work", {"Cookie": f"{settings.session_cookie_name}={layout.cookie}"}),
    }
    out: dict[str, Any] = {"patients": patients, "tasks": tasks}

    async def measure(client: Any, statements: list[int], n: int) -> dict[str, Any]:
        figures: dict[str, Any] = {}
        for kind, (url, headers) in kinds.items():
            figures[kind], last = await timed_gets(client, url, headers, statements, n, warmup=WARMUP)
            if kind == "json":
                figures["listed"] = last.json()["total"]
        return figures

    app = create_app(settings)
    async with app.router.lifespan_context(app):
        with counting_statements(app.state.engine) as statements:
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
                small = await measure(client, statements, 5)
                await _seed(
                    db_url,
                    patients - patients_small,
                    per_patient * (patients - patients_small),
                    user_id=layout.user_id,
                )
                big = await measure(client, statements, requests)
    # Hers: her tasks, and one referral per patient waiting in the nurses' pool.
    if big["listed"] != (per_patient + 1) * patients:
        raise RuntimeError(f"My work listed {big['listed']} items, expected {(per_patient + 1) * patients}")
    for kind in kinds:
        out[kind] = {**big[kind], "queries_small": small[kind]["queries"]}
        say(
            f"  my work, {patients} patients, {tasks:,} open tasks, {kind}: p50 {big[kind]['p50_ms']} ms, "
            f"p99 {big[kind]['p99_ms']} ms, queries/request {big[kind]['queries']} "
            f"(at {patients_small} patients: {small[kind]['queries']}), {big[kind]['bytes'] // 1024} KiB"
        )
    return out


def run(
    db_url: str, cores: Cores, *, patients: int, patients_small: int, tasks: int, requests: int
) -> dict[str, Any]:
    """Pinned to the server's CPU for the measurement (client and app share it, as in-process)."""
    saved = os.sched_getaffinity(0)
    pin(cores.server)
    try:
        return asyncio.run(_measure(db_url, patients, patients_small, tasks, requests))
    finally:
        pin(saved)
