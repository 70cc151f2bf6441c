"""GET /api/v1/plans/{id}, the board snapshot: the same JSON as the validated models, in constant queries."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import httpx
from sqlmodel import col, select

from careteam.audit.tables import AuditEntry
from careteam.core.vocab import Discipline
from careteam.patients.schemas import PatientPublic
from careteam.patients.service import team_members
from careteam.patients.tables import Patient
from careteam.plans.schemas import BoardPublic, GoalPublic, PlanPublic, TaskPublic
from careteam.plans.tables import CarePlan, Goal, Task
from tests.board_world import make_board
from tests.factories import statements


async def add_task(client: httpx.AsyncClient, headers: dict[str, str], plan_id: int, **fields: Any) -> Any:
    r = await client.post(
        f"/api/v1/plans/{plan_id}/tasks", json={"discipline": "nurse", **fields}, headers=headers
    )
    assert r.status_code == 201, r.text
    return r.json()


async def change(
    client: httpx.AsyncClient, headers: dict[str, str], task: dict[str, Any], **patch: Any
) -> Any:
    r = await client.patch(
        f"/api/v1/tasks/{task['id']}", json=patch, headers={**headers, "If-Match": f'W/"{task["version"]}"'}
    )
    assert r.status_code == 200, r.text
    return r.json()


async def reference_board(db: Any, plan_id: int) -> BoardPublic:
    """The board as it was built before the snapshot skipped the models: every row through model_validate."""
    async with db() as s:
        plan = await s.get(CarePlan, plan_id)
        patient = await s.get(Patient, plan.patient_id)
        goals = (await s.exec(select(Goal).where(Goal.plan_id == plan_id).order_by(col(Goal.id)))).all()
        tasks = (
            await s.exec(
                select(Task).where(Task.plan_id == plan_id).order_by(col(Task.position), col(Task.id))
            )
        ).all()
        return BoardPublic(
            plan=PlanPublic.model_validate(plan),
            patient=PatientPublic.model_validate(patient),
            goals=[GoalPublic.model_validate(g) for g in goals],
            tasks=[TaskPublic.model_validate(t) for t in tasks],
            members=await team_members(s, patient.id or 0),
            last_seq=plan.last_seq,
        )


async def test_the_snapshot_is_the_validated_board_byte_for_byte(
    client: httpx.AsyncClient, db: Any, login: Any
) -> None:
    w = await make_board(db)
    lead = await login(w.lead)
    for goal in ({"description": "PEG ≤ 4", "target": "12 weeks"}, {"description": "Walk 30 minutes daily"}):
        r = await client.post(f"/api/v1/plans/{w.plan_id}/goals", json=goal, headers=lead)
        assert r.status_code == 201, r.text
    today = date.today()
    first = await add_task(
        client,
        lead,
        w.plan_id,
        title="UDS due <script>alert('x')</script> & “quotes” 100%",
        description="Line one\nline two\ttab \u2028 émoji 🩺",
        assignee_id=w.nurse_id,
        due_date=(today - timedelta(days=3)).isoformat(),
        priority="stat",
        checklist=[{"text": "  Collect sample  ", "done": True}, {"text": "Send to lab"}],
    )
    second = await add_task(client, lead, w.plan_id, title="Graded walk", discipline="physical_therapist")
    third = await add_task(client, lead, w.plan_id, title="Sleep diary", position=-1e12)
    await add_task(client, lead, w.plan_id, title="Tiny position", position=1e-7)
    await add_task(client, lead, w.plan_id, title="Same position as the first", position=first["position"])
    # A move between two cards takes the midpoint; a change bumps the version.
    await change(
        client, lead, second, status="in-progress", position=(first["position"] + third["position"]) / 3
    )
    await change(client, lead, first, checklist=[{"text": "Collect sample", "done": True}])

    r = await client.get(f"/api/v1/plans/{w.plan_id}", headers=lead)
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/json"
    reference = await reference_board(db, w.plan_id)
    assert r.json() == reference.model_dump(mode="json")
    # What FastAPI sent for the response model before: pydantic's own JSON.
    assert r.content == reference.model_dump_json().encode()
    assert r.headers["etag"] == f'W/"{reference.plan.version}"'
    assert [g["description"] for g in r.json()["goals"]] == ["PEG ≤ 4", "Walk 30 minutes daily"]
    tasks = r.json()["tasks"]
    assert [t["title"] for t in tasks][:2] == ["Sleep diary", "Graded walk"]
    assert [(t["position"], t["id"]) for t in tasks] == sorted((t["position"], t["id"]) for t in tasks)


async def test_the_snapshot_is_one_audited_read_of_another_teams_plan_not_found(
    client: httpx.AsyncClient, db: Any, login: Any
) -> None:
    w = await make_board(db)
    nurse = await login(w.nurse)
    assert (await client.get(f"/api/v1/plans/{w.other_plan_id}", headers=nurse)).status_code == 404
    assert (await client.get(f"/api/v1/plans/{w.plan_id}")).status_code == 401
    assert (await client.get(f"/api/v1/plans/{w.plan_id}", headers=nurse)).status_code == 200
    async with db() as s:
        reads = (
            await s.exec(
                select(AuditEntry).where(AuditEntry.resource_type == "care_plan", AuditEntry.action == "read")
            )
        ).all()
    assert [(e.resource_id, e.user_id) for e in reads] == [(str(w.plan_id), w.nurse_id)]


async def add_rows(db: Any, plan_id: int, n: int, *, assignee_id: int) -> None:
    """``n`` tasks straight into the store, over lanes and columns, with assignees, due dates, checklists."""
    statuses = ["requested", "ready", "in-progress", "on-hold", "completed", "cancelled"]
    lanes = [Discipline.nurse, Discipline.physical_therapist, Discipline.psychologist]
    async with db() as s:
        s.add_all(
            Task(
                plan_id=plan_id,
                title=f"Task {k}",
                discipline=lanes[k % len(lanes)],
                assignee_id=assignee_id if k % 2 else None,
                status=statuses[k % len(statuses)],
                priority="urgent" if k % 5 == 0 else "routine",
                due_date=date.today() + timedelta(days=k % 7 - 3),
                position=1024.0 * (k + 1),
                checklist=[{"text": "Call", "done": k % 3 == 0}],
            )
            for k in range(n)
        )


async def test_the_board_costs_the_same_queries_for_2_or_60_tasks(
    app: Any, client: httpx.AsyncClient, db: Any, login: Any
) -> None:
    w = await make_board(db)
    nurse = await login(w.nurse)
    big = await make_board(db)
    big_nurse = await login(big.nurse)
    await add_rows(db, w.plan_id, 2, assignee_id=w.nurse_id)
    await add_rows(db, big.plan_id, 60, assignee_id=big.nurse_id)

    counts = []
    for plan_id, headers in ((w.plan_id, nurse), (big.plan_id, big_nurse)):
        with statements(app) as sent:
            r = await client.get(f"/api/v1/plans/{plan_id}", headers=headers)
        assert r.status_code == 200
        counts.append(len(sent))
    assert len(r.json()["tasks"]) == 60
    assert counts[0] == counts[1] <= 8
