"""GET /api/v1/me/work: who may call it, what it refuses, what it answers, and in how many SQL statements."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import httpx
import pytest

from careteam.core.vocab import Discipline
from careteam.patients.codes import TeamRole
from careteam.plans.tables import Task
from careteam.referrals.tables import Referral
from tests.factories import make_patient, make_plan, make_user, statements
from tests.work.world import make_clinic


async def test_anonymous_is_401(client: httpx.AsyncClient) -> None:
    r = await client.get("/api/v1/me/work")
    assert r.status_code == 401
    assert r.headers["content-type"].startswith("application/problem+json")


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("discipline=surgeon", "discipline"),
        ("patient_id=0", "patient_id"),
        ("patient_id=abc", "patient_id"),
        ("limit=51", "limit"),
        ("limit=0", "limit"),
        ("offset=-1", "offset"),
    ],
)
async def test_a_bad_filter_is_a_422_problem_naming_it(
    client: httpx.AsyncClient, db: Any, login: Any, query: str, field: str
) -> None:
    async with db() as s:
        nurse = await make_user(s)
    r = await client.get(f"/api/v1/me/work?{query}", headers=await login(nurse.username))
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert any(e["field"].endswith(field) for e in r.json()["errors"]), r.json()


async def test_her_work_as_json(client: httpx.AsyncClient, db: Any, login: Any) -> None:
    clinic = await make_clinic(db, patients=2, tasks_per_plan=60)
    headers = await login(clinic.nurse)
    r = await client.get("/api/v1/me/work", headers=headers)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["offset"] == 0 and body["limit"] == 50
    assert body["total"] == sum(body["counts"].values()) > 0
    first = body["items"][0]
    assert first["kind"] == "task" and first["link"] == f"/plans/{first['plan_id']}#task-{first['id']}"
    assert first["patient"]["name"].startswith("Patient ")
    # Filtered by patient and lane, paged.
    patient_id = clinic.patient_ids[1]
    r = await client.get(
        f"/api/v1/me/work?patient_id={patient_id}&discipline=nurse&limit=3&offset=1", headers=headers
    )
    body = r.json()
    assert r.status_code == 200 and body["limit"] == 3 and body["offset"] == 1 and len(body["items"]) <= 3
    assert {(i["patient"]["id"], i["discipline"]) for i in body["items"]} <= {(patient_id, "nurse")}
    # Someone not on any team has nothing waiting.
    async with db() as s:
        await make_user(s, "newcomer")
    r = await client.get("/api/v1/me/work", headers=await login("newcomer"))
    assert r.json() == {
        "items": [],
        "total": 0,
        "offset": 0,
        "limit": 50,
        "counts": {"overdue": 0, "today": 0, "week": 0, "later": 0},
        "referrer": False,
        "sent": [],
        "overdue_referrals": [],
        "urgent": [],
    }


async def _add_patients(db: Any, nurse_id: int, count: int, tasks_each: int) -> None:
    async with db() as s:
        from careteam.accounts.tables import User

        nurse = await s.get(User, nurse_id)
        assert nurse is not None
        for _ in range(count):
            patient = await make_patient(s, members=[(nurse, TeamRole.member)])
            plan = await make_plan(s, patient)
            s.add_all(
                Task(
                    plan_id=plan.id or 0,
                    title=f"Task {k}",
                    discipline="nurse",
                    assignee_id=nurse_id if k % 2 else None,
                    due_date=date(2026, 1 + k % 12, 1),
                )
                for k in range(tasks_each)
            )
            # And a referral waiting in the nurses' pool: referral rows must not cost a query each either.
            s.add(
                Referral(
                    plan_id=plan.id or 0,
                    patient_id=patient.id or 0,
                    requester_id=nurse_id,
                    discipline="nurse",
                    reason="Follow-up call after ESI",
                    respond_by=datetime(2025, 12, 1, tzinfo=UTC),  # overdue longest: on the first page
                )
            )


async def test_the_first_page_takes_as_many_statements_for_50_patients_as_for_5(
    app: Any, client: httpx.AsyncClient, db: Any, login: Any
) -> None:
    async with db() as s:
        nurse = await make_user(s, discipline=Discipline.nurse)
    await _add_patients(db, nurse.id or 0, 5, 40)
    headers = await login(nurse.username)
    await client.get("/api/v1/me/work", headers=headers)  # warm: statements compiled, session seen

    async def count(path: str) -> tuple[int, Any]:
        with statements(app, begin=False) as sent:
            r = await client.get(path, headers=headers)
        assert r.status_code == 200, r.text
        return len(sent), r.json()

    few, few_body = await count("/api/v1/me/work")
    few_filtered, _ = await count("/api/v1/me/work?discipline=nurse")
    await _add_patients(db, nurse.id or 0, 45, 40)
    many, many_body = await count("/api/v1/me/work")
    many_filtered, _ = await count("/api/v1/me/work?discipline=nurse")

    assert few_body["total"] == 205 and many_body["total"] == 2050
    assert {i["kind"] for i in few_body["items"]} == {"task", "referral"}
    assert len(many_body["items"]) == 50
    assert len({i["patient"]["id"] for i in many_body["items"]}) > 5  # more patients shown, same statements
    assert many == few and many_filtered == few_filtered
    # Authentication, the task rows and counts, the referral rows and their patients, the audit rows: a
    # handful, whatever the size.
    assert many <= 8, many
