"""The patient page's forms for building a plan, driven as a browser without JavaScript would: a new plan
with its period and goals in one submit (bad input: the message by the field, what she typed kept, nothing
created), several clinicians added to the team at once, and the board's goals with due dates and Edit."""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest
from fastapi import FastAPI
from sqlmodel import col, select

from careteam.core.vocab import Discipline
from careteam.db.engine import unit_of_work
from careteam.patients.tables import CareTeamMember
from careteam.plans.tables import CarePlan, Goal
from tests.web.test_pages import count, csrf, hidden, make_patient, make_user, signed_in

GOOD = {
    "title": "CRPS right hand: graded motor imagery",
    "period_start": "2027-01-04",
    "period_end": "2027-04-04",
    "goal_description": ["Regain grip for daily tasks", "", "Sleep 6 hours most nights"],
    "goal_target": ["Grip +30%", "", ""],
    "goal_due": ["2027-03-15", "", "2027-02-15"],
}


async def test_a_plan_opens_with_its_period_and_goals_in_one_form(app: FastAPI) -> None:
    lead = await make_user(app, "lee.lead", Discipline.ipm_lead)
    patient_id = await make_patient(app, lead, "MRN-1", "Maria Ortega")
    async with signed_in(app, lead) as client:
        page = await client.get(f"/patients/{patient_id}")
        # Three goal rows without JavaScript, each with its own labelled fields.
        assert page.text.count('data-part="goal-row"') == 3
        assert 'for="plan-goal-2-goal_due"' in page.text and 'type="date"' in page.text
        created = await client.post(
            f"/patients/{patient_id}/plans", data={"csrf_token": csrf(page.text), **GOOD}
        )
        assert created.status_code == 303
        board = await client.get(created.headers["location"])
    assert "Regain grip for daily tasks" in board.text and 'datetime="2027-03-15"' in board.text
    assert 'data-action="edit-goal"' in board.text  # the lead edits goals inline
    async with unit_of_work(app.state.sessions) as session:
        plan = (await session.exec(select(CarePlan))).one()
        goals = list(await session.exec(select(Goal).order_by(col(Goal.id))))
    assert (plan.period_start, plan.period_end) == (date(2027, 1, 4), date(2027, 4, 4))
    # The empty middle row is no goal.
    assert [(g.description, g.target, g.due_date) for g in goals] == [
        ("Regain grip for daily tasks", "Grip +30%", date(2027, 3, 15)),
        ("Sleep 6 hours most nights", "", date(2027, 2, 15)),
    ]


@pytest.mark.parametrize(
    ("change", "field_id", "message"),
    [
        ({"title": "  "}, "plan-title", "Give the plan a title"),
        ({"period_end": "2026-12-01"}, "plan-period_end", "The period must not end before it starts."),
        ({"period_start": "2027-02-30"}, "plan-period_start", "Enter a valid date."),
        ({"goal_due": ["2027-03-15", "", ""]}, "plan-goal-1-goal_due", "Goal 2: Give the goal a due date."),
        # The empty middle row is dropped: the third row is goal 2 when the form comes back.
        ({"goal_due": ["2027-03-15", "", "soon"]}, "plan-goal-1-goal_due", "Goal 2: Enter a valid due date."),
        (
            {"goal_target": ["x" * 201, "", ""]},
            "plan-goal-0-goal_target",
            "Goal 1: Keep the target to 200 characters.",
        ),
    ],
)
async def test_bad_plan_input_is_named_by_its_field_and_creates_nothing(
    app: FastAPI, change: dict[str, object], field_id: str, message: str
) -> None:
    lead = await make_user(app, "lee.lead", Discipline.ipm_lead)
    patient_id = await make_patient(app, lead, "MRN-1", "Maria Ortega")
    async with signed_in(app, lead) as client:
        page = await client.get(f"/patients/{patient_id}")
        r = await client.post(
            f"/patients/{patient_id}/plans", data={"csrf_token": csrf(page.text), **GOOD, **change}
        )
    assert r.status_code == 422
    assert message in r.text
    field = re.search(rf'<input[^>]*id="{field_id}"[^>]*>', r.text)
    assert field and 'aria-invalid="true"' in field.group(0), field_id
    assert 'value="Regain grip for daily tasks"' in r.text  # what she typed is kept
    assert await count(app, CarePlan) == 0 and await count(app, Goal) == 0


async def test_a_lead_adds_several_clinicians_in_one_submit(app: FastAPI) -> None:
    lead = await make_user(app, "lee.lead", Discipline.ipm_lead)
    nurse = await make_user(app, "nina.nurse", Discipline.nurse)
    ot = await make_user(app, "olga.ot", Discipline.occupational_therapist)
    doc = await make_user(app, "dan.doc", Discipline.physician)
    patient_id = await make_patient(app, lead, "MRN-1", "Maria Ortega")
    path = f"/patients/{patient_id}"
    async with signed_in(app, lead) as client:
        page = await client.get(path)
        token, version = csrf(page.text), hidden(page.text, "version")
        none = await client.post(f"{path}/members", data={"csrf_token": token, "version": version})
        assert none.status_code == 422 and "Choose at least one clinician." in none.text
        added = await client.post(
            f"{path}/members",
            data={
                "csrf_token": token,
                "version": version,
                "user_id": [str(nurse.user_id), str(ot.user_id)],
                f"role_{nurse.user_id}": "member",
                f"role_{ot.user_id}": "lead",
                f"role_{doc.user_id}": "lead",  # not ticked: not added
            },
        )
        assert added.status_code == 303
        page = await client.get(path)
        again = await client.post(
            f"{path}/members",
            data={
                "csrf_token": token,
                "version": hidden(page.text, "version"),
                "user_id": [str(doc.user_id), str(nurse.user_id)],
            },
        )
    assert again.status_code == 409 and "Nina Nurse is already on the team." in again.text
    assert f'id="add-user-{doc.user_id}" name="user_id" value="{doc.user_id}" checked' in again.text
    async with unit_of_work(app.state.sessions) as session:
        members = {m.user_id: m.role for m in await session.exec(select(CareTeamMember))}
    assert members == {lead.user_id: "lead", nurse.user_id: "member", ot.user_id: "lead"}


async def test_board_goals_show_their_due_date_overdue_and_edit_only_for_planners(app: FastAPI) -> None:
    lead = await make_user(app, "lee.lead", Discipline.ipm_lead)
    nurse = await make_user(app, "nina.nurse", Discipline.nurse)
    patient_id = await make_patient(app, lead, "MRN-1", "Maria Ortega", nurse)
    late = (date.today() - timedelta(days=2)).isoformat()
    async with signed_in(app, lead) as client:
        page = await client.get(f"/patients/{patient_id}")
        created = await client.post(
            f"/patients/{patient_id}/plans",
            data={
                "csrf_token": csrf(page.text),
                "title": "Fibromyalgia",
                "goal_description": ["FIQR down by 14 points"],
                "goal_due": [late],
            },
        )
        board = await client.get(created.headers["location"])
    assert re.search(r'<li class="goal is-overdue"', board.text)
    assert f'datetime="{late}"' in board.text and 'data-action="edit-goal"' in board.text
    async with signed_in(app, nurse) as client:
        seen = await client.get(created.headers["location"])
    assert "FIQR down by 14 points" in seen.text and 'data-action="edit-goal"' not in seen.text
