"""Building a plan: a plan opened with its period and goals (each with a due date) in one request, goals'
due dates edited and cleared, and several clinicians added to the care team at once (all or none)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from sqlmodel import col, select

from careteam.core.vocab import Discipline
from careteam.patients.tables import CareTeamMember
from careteam.plans.tables import CarePlan, Goal
from tests.board_world import make_board
from tests.factories import make_user


async def test_a_plan_opens_with_its_period_and_goals_due_on_dates(client: Any, db: Any, login: Any) -> None:
    b = await make_board(db)
    h = await login(b.lead)
    r = await client.post(
        "/api/v1/plans",
        json={
            "patient_id": b.patient_id,
            "title": "CRPS right hand",
            "period_start": "2027-01-04",
            "period_end": "2027-04-04",
            "goals": [
                {
                    "description": "Regain grip for daily tasks",
                    "target": "Grip +30%",
                    "due_date": "2027-03-15",
                },
                {"description": "Sleep 6 hours most nights", "due_date": "2027-02-15"},
            ],
        },
        headers=h,
    )
    assert r.status_code == 201, r.text
    plan = r.json()
    assert (plan["period_start"], plan["period_end"]) == ("2027-01-04", "2027-04-04")
    board = (await client.get(f"/api/v1/plans/{plan['id']}", headers=h)).json()
    assert [(g["description"], g["target"], g["due_date"]) for g in board["goals"]] == [
        ("Regain grip for daily tasks", "Grip +30%", "2027-03-15"),
        ("Sleep 6 hours most nights", "", "2027-02-15"),
    ]
    events = (await client.get(f"/api/v1/plans/{plan['id']}/events", headers=h)).json()["items"]
    assert [e["kind"] for e in events] == ["plan.created", "goal.created", "goal.created"]
    assert events[1]["data"]["due_date"] == "2027-03-15"


async def test_a_goals_due_date_is_set_and_cleared_and_every_viewer_is_told(
    client: Any, db: Any, login: Any
) -> None:
    b = await make_board(db)
    h = await login(b.lead)
    goal = (
        await client.post(
            f"/api/v1/plans/{b.plan_id}/goals", json={"description": "Walk 30 minutes daily"}, headers=h
        )
    ).json()
    assert goal["due_date"] is None
    due = (date.today() + timedelta(days=42)).isoformat()
    r = await client.patch(
        f"/api/v1/goals/{goal['id']}",
        json={"due_date": due, "lifecycle_status": "on-hold"},
        headers={**h, "If-Match": f'W/"{goal["version"]}"'},
    )
    assert r.status_code == 200 and r.json()["due_date"] == due and r.json()["lifecycle_status"] == "on-hold"
    cleared = await client.patch(
        f"/api/v1/goals/{goal['id']}",
        json={"due_date": None},
        headers={**h, "If-Match": f'W/"{r.json()["version"]}"'},
    )
    assert cleared.status_code == 200 and cleared.json()["due_date"] is None
    events = (await client.get(f"/api/v1/plans/{b.plan_id}/events", headers=h)).json()["items"]
    updates = [e["data"]["due_date"] for e in events if e["kind"] == "goal.updated"]
    assert updates == [due, None]
    # A nurse works the tasks; the plan's goals are its lead's and physicians'.
    nurse = await client.patch(
        f"/api/v1/goals/{goal['id']}",
        json={"due_date": due},
        headers={**await login(b.nurse), "If-Match": f'W/"{cleared.json()["version"]}"'},
    )
    assert nurse.status_code == 403


async def test_several_clinicians_join_the_team_at_once_or_none_do(client: Any, db: Any, login: Any) -> None:
    b = await make_board(db)
    async with db() as s:
        ot = await make_user(s, discipline=Discipline.occupational_therapist)
        psych = await make_user(s, discipline=Discipline.psychologist)
        pharm = await make_user(s, discipline=Discipline.pharmacist)
    h = await login(b.lead)
    path = f"/api/v1/patients/{b.patient_id}/care-team/members/batch"
    team = (await client.get(f"/api/v1/patients/{b.patient_id}/care-team", headers=h)).json()

    refused = await client.post(
        path, json={"members": [{"user_id": pharm.id}, {"user_id": b.nurse_id}]}, headers=h
    )
    assert refused.status_code == 409, refused.text
    async with db() as s:
        on_team = set(await s.exec(select(CareTeamMember.user_id)))
    assert pharm.id not in on_team  # the first was not added either

    r = await client.post(
        path, json={"members": [{"user_id": ot.id}, {"user_id": psych.id, "role": "lead"}]}, headers=h
    )
    assert r.status_code == 201, r.text
    after = r.json()
    assert after["version"] == team["version"] + 1  # one change of the team
    roles = {m["user_id"]: (m["role"], m["discipline"]) for m in after["members"]}
    assert roles[ot.id or 0] == ("member", "occupational_therapist")
    assert roles[psych.id or 0] == ("lead", "psychologist")
    events = (await client.get(f"/api/v1/plans/{b.plan_id}/events", headers=h)).json()["items"]
    assert [e["kind"] for e in events].count("team.updated") == 1
    assert (
        await client.get(f"/api/v1/plans/{b.plan_id}", headers=await login(ot.username))
    ).status_code == 200

    nurse = await client.post(path, json={"members": [{"user_id": pharm.id}]}, headers=await login(b.nurse))
    assert nurse.status_code == 403


async def test_plans_goals_keep_their_order_and_dates_in_the_store(client: Any, db: Any, login: Any) -> None:
    b = await make_board(db)
    r = await client.post(
        "/api/v1/plans",
        json={
            "patient_id": b.patient_id,
            "title": "Fibromyalgia",
            "goals": [{"description": f"Goal {n}", "due_date": f"2027-0{n}-01"} for n in range(1, 4)],
        },
        headers=await login(b.lead),
    )
    assert r.status_code == 201
    async with db() as s:
        plan = await s.get(CarePlan, r.json()["id"])
        goals = list(await s.exec(select(Goal).where(Goal.plan_id == r.json()["id"]).order_by(col(Goal.id))))
    assert plan is not None and plan.period_start is None
    assert [(g.description, g.due_date) for g in goals] == [
        (f"Goal {n}", date(2027, n, 1)) for n in range(1, 4)
    ]
