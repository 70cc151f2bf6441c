"""Who may move a task: the whole transition table walked for each role against the rules the board page
ships, the rules' words, a cancel's reason, Undo within its window and Reopen's linked follow-up."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa
from sqlmodel import col, select

from careteam.app import create_app
from careteam.core.vocab import Discipline
from careteam.events.tables import StreamEvent
from careteam.jobs.clock import ManualClock
from careteam.patients.codes import TeamRole
from careteam.plans.codes import TaskStatus
from careteam.plans.tables import Task
from careteam.settings import Settings
from tests.factories import make_patient, make_plan, make_user, of_plan
from tests.plans.test_pages import board_page

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


@pytest.fixture
async def app(settings: Settings, clock: ManualClock) -> AsyncIterator[Any]:
    """The app on a clock the tests move (the undo window is judged by it); no scheduled jobs."""
    application = create_app(settings.model_copy(update={"jobs_enabled": False}), clock=clock)
    async with application.router.lifespan_context(application):
        yield application


@dataclass
class Team:
    plan_id: int
    ids: dict[str, int]  # role in these tests -> user id
    usernames: dict[str, str]


async def make_team(db: Any) -> Team:
    """An IPM lead (the team's lead), a physician, two nurses and a physio on one patient's team."""
    async with db() as s:
        users = {
            "lead": await make_user(s, discipline=Discipline.ipm_lead),
            "physician": await make_user(s, discipline=Discipline.physician),
            "nurse": await make_user(s, discipline=Discipline.nurse),
            "other_nurse": await make_user(s, discipline=Discipline.nurse),
            "physio": await make_user(s, discipline=Discipline.physical_therapist),
        }
        members = [(u, TeamRole.lead if role == "lead" else TeamRole.member) for role, u in users.items()]
        patient = await make_patient(s, members=members)
        plan = await make_plan(s, patient)
        return Team(
            plan.id or 0,
            {role: u.id or 0 for role, u in users.items()},
            {role: u.username for role, u in users.items()},
        )


def offered(
    rules: dict[str, Any], members: list[dict[str, Any]], me: int, task: dict[str, Any], to: str
) -> bool:
    """task-rules.js ``mayMove``: the page's rules, read for the viewer as her place on the team says."""
    who = rules["transitions"].get(task["status"], {}).get(to)
    if who is None:
        return False
    member = next((m for m in members if m["user_id"] == me), None)
    if member is None:
        return False
    lead = member["role"] == "lead" or member["discipline"] == "ipm_lead"
    matches = {
        "team": True,
        "assignee": task["assignee_id"] == me,
        "lane": member["discipline"] == task["discipline"],
        "physician": member["discipline"] == "physician",
        "lead": lead,
        "author": task["author_id"] == me,
    }
    return any(matches[w] for w in who)


async def _patch(client: Any, h: dict[str, str], task: dict[str, Any], **body: Any) -> Any:
    return await client.patch(
        f"/api/v1/tasks/{task['id']}", json=body, headers={**h, "If-Match": f'W/"{task["version"]}"'}
    )


async def _add(client: Any, h: dict[str, str], team: Team, **body: Any) -> dict[str, Any]:
    """A task on the team's plan, added by whoever ``h`` signs in."""
    r = await client.post(f"/api/v1/plans/{team.plan_id}/tasks", json=body, headers=h)
    assert r.status_code == 201, r.text
    return dict(r.json())


async def _set_status(db: Any, task_id: int, status: str) -> dict[str, Any]:
    """Put the task in a status directly (arranging: no event), as a new version."""
    async with db() as s:
        await s.exec(
            sa.update(Task).where(col(Task.id) == task_id).values(status=status, version=Task.version + 1)
        )
    async with db() as s:
        task = (await s.exec(select(Task).where(Task.id == task_id))).one()
        return {**task.model_dump(mode="json")}


async def test_every_move_the_page_offers_succeeds_and_every_other_is_refused(
    app: Any, client: Any, db: Any, login: Any
) -> None:
    """The issue's "a test walks the whole table": for every status, every target and every role, the
    move the page's rules offer succeeds on the server, and every move they do not offer is refused."""
    team = await make_team(db)
    heads = {role: await login(name) for role, name in team.usernames.items()}
    page = await board_page(app, client, db, team.usernames["nurse"], team.plan_id)
    node = page.find(id="board-state")
    assert node is not None
    state = json.loads(node.all_text())
    rules, members = state["rules"], state["members"]
    # A physician's task, assigned to a nurse, put on the board by the physio: each kind of person differs.
    r = await client.post(
        f"/api/v1/plans/{team.plan_id}/tasks",
        json={"title": "Medial branch block", "discipline": "physician", "assignee_id": team.ids["nurse"]},
        headers=heads["physio"],
    )
    assert r.status_code == 201, r.text
    task_id = r.json()["id"]
    assert r.json()["author_id"] == team.ids["physio"]
    walked = {"offered": 0, "refused": 0}
    for current in TaskStatus:
        for to in TaskStatus:
            if to == current:
                continue
            for role, h in heads.items():
                task = await _set_status(db, task_id, current)
                may = offered(rules, members, team.ids[role], task, to)
                body: dict[str, Any] = {"status": to}
                if to in rules["reason_required"]:
                    body["status_reason"] = "Patient declined."
                r = await _patch(client, h, task, **body)
                where = (current.value, to.value, role)
                if may:
                    assert r.status_code == 200, (where, r.text)
                    walked["offered"] += 1
                else:
                    legal = to in rules["transitions"][current]
                    assert r.status_code == (403 if legal else 409), (where, r.text)
                    walked["refused"] += 1
    # Every transition of the state machine was offered to someone, and some were refused to someone.
    assert walked["offered"] >= sum(len(t) for t in rules["transitions"].values())
    assert walked["refused"] > walked["offered"]


async def test_the_nurse_cannot_complete_the_physicians_procedure(client: Any, db: Any, login: Any) -> None:
    team = await make_team(db)
    physician, nurse = await login(team.usernames["physician"]), await login(team.usernames["nurse"])
    task = await _add(
        client,
        physician,
        team,
        title="Medial branch block",
        discipline="physician",
        assignee_id=team.ids["physician"],
    )
    task = (await _patch(client, physician, task, status="in-progress")).json()
    async with db() as s:
        events_before = len(list(await s.exec(select(StreamEvent).where(*of_plan(team.plan_id)))))
    r = await _patch(client, nurse, task, status="completed")
    assert r.status_code == 403
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["detail"] == (
        "Only the assignee, a clinician of the task's discipline, a physician or the plan's lead "
        "may complete this task."
    )
    r = await _patch(client, nurse, task, status="cancelled", status_reason="No longer needed.")
    assert r.status_code == 403
    assert r.json()["detail"] == (
        "Only a clinician of the task's discipline, a physician or the plan's lead may cancel this task."
    )
    r = await _patch(client, nurse, task, status="entered-in-error")
    assert (
        r.json()["detail"]
        == "Only the plan's lead or whoever added the task may mark this task as entered in error."
    )
    async with db() as s:
        assert len(list(await s.exec(select(StreamEvent).where(*of_plan(team.plan_id))))) == events_before
    # Anyone on the team may put it on hold; the physician completes it.
    task = (await _patch(client, nurse, task, status="on-hold")).json()
    task = (await _patch(client, physician, task, status="in-progress")).json()
    assert (await _patch(client, physician, task, status="completed")).status_code == 200


async def test_an_illegal_move_is_refused_in_column_words(client: Any, db: Any, login: Any) -> None:
    team = await make_team(db)
    h = await login(team.usernames["lead"])
    r = await client.post(
        f"/api/v1/plans/{team.plan_id}/tasks",
        json={"title": "Opioid agreement renewal", "discipline": "nurse"},
        headers=h,
    )
    r = await _patch(client, h, r.json(), status="completed")
    assert r.status_code == 409
    assert (
        r.json()["detail"]
        == "A task in To do cannot go straight to Done; it can move to: To do, In progress, Closed."
    )


async def test_a_cancel_needs_a_reason(client: Any, db: Any, login: Any) -> None:
    team = await make_team(db)
    h = await login(team.usernames["nurse"])
    r = await client.post(
        f"/api/v1/plans/{team.plan_id}/tasks",
        json={"title": "Opioid agreement renewal", "discipline": "nurse"},
        headers=h,
    )
    task = r.json()
    for body in ({"status": "cancelled"}, {"status": "cancelled", "status_reason": "   "}):
        r = await _patch(client, h, task, **body)
        assert r.status_code == 422, r.text
        assert [e["field"] for e in r.json()["errors"]] == ["body.status_reason"]
    r = await _patch(client, h, task, status="in-progress", status_reason="Why not")
    assert r.status_code == 422
    assert [e["field"] for e in r.json()["errors"]] == ["body.status_reason"]
    r = await _patch(client, h, task, status="cancelled", status_reason="x" * 501)
    assert r.status_code == 422
    r = await _patch(client, h, task, status="cancelled", status_reason="Renewed at the GP's.")
    assert r.status_code == 200, r.text
    assert r.json()["status_reason"] == "Renewed at the GP's."
    assert r.json()["status"] == "cancelled"


async def test_undo_within_the_window_by_the_same_person(
    client: Any, db: Any, login: Any, clock: ManualClock
) -> None:
    team = await make_team(db)
    nurse, lead = await login(team.usernames["nurse"]), await login(team.usernames["lead"])
    r = await client.post(
        f"/api/v1/plans/{team.plan_id}/tasks", json={"title": "UDS due", "discipline": "nurse"}, headers=nurse
    )
    task = (await _patch(client, nurse, r.json(), status="in-progress")).json()
    task = (await _patch(client, nurse, task, status="completed")).json()

    def undo(h: dict[str, str], t: dict[str, Any]) -> Any:
        return client.post(f"/api/v1/tasks/{t['id']}/undo", headers={**h, "If-Match": f'W/"{t["version"]}"'})

    r = await undo(lead, task)  # someone else: never
    assert r.status_code == 403
    assert r.json()["detail"] == "Only whoever moved this task to Done may undo it; reopen it as a follow-up."
    clock.advance(9.5)
    r = await undo(nurse, task)
    assert r.status_code == 200, r.text
    undone = r.json()
    assert (undone["status"], undone["version"]) == ("in-progress", task["version"] + 1)
    async with db() as s:
        last = (
            await s.exec(
                select(StreamEvent).where(*of_plan(team.plan_id)).order_by(col(StreamEvent.seq).desc())
            )
        ).first()
    assert last is not None
    assert (last.kind, last.actor_id, last.data["status"]) == (
        "task.undone",
        team.ids["nurse"],
        "in-progress",
    )
    r = await undo(nurse, undone)  # an undo is not undone
    assert r.status_code == 409
    assert r.json()["detail"] == "There is nothing to undo: this task was not just moved to In progress."

    # A cancel, then too late: the window is judged by the app's clock.
    task = (await _patch(client, nurse, undone, status="cancelled", status_reason="Done at the GP's.")).json()
    clock.advance(10.5)
    r = await undo(nurse, task)
    assert r.status_code == 409
    assert (
        r.json()["detail"]
        == "Too late to undo: a move to Closed is final after 10 seconds. Reopen it as a follow-up."
    )
    r = await client.post(f"/api/v1/tasks/{task['id']}/undo", headers={**nurse, "If-Match": 'W/"1"'})
    assert r.status_code == 412


async def test_reopen_creates_a_linked_follow_up(client: Any, db: Any, login: Any) -> None:
    team = await make_team(db)
    nurse, physio = await login(team.usernames["nurse"]), await login(team.usernames["physio"])
    original = await _add(
        client,
        nurse,
        team,
        title="Graded walk",
        discipline="nurse",
        assignee_id=team.ids["nurse"],
        checklist=[{"text": "10 minutes", "done": True}],
    )
    r = await client.post(f"/api/v1/tasks/{original['id']}/reopen", headers=physio)
    assert r.status_code == 409  # still open: nothing to reopen
    assert r.json()["detail"] == "Only a task in Done or Closed can be reopened; this one is in To do."
    original = (await _patch(client, nurse, original, status="in-progress")).json()
    original = (await _patch(client, nurse, original, status="completed")).json()
    r = await client.post(f"/api/v1/tasks/{original['id']}/reopen", headers=physio)
    assert r.status_code == 201, r.text
    follow_up = r.json()
    assert follow_up["reopened_from_id"] == original["id"]
    assert r.headers["location"] == f"/api/v1/tasks/{follow_up['id']}"
    assert (follow_up["title"], follow_up["discipline"], follow_up["status"]) == (
        "Graded walk",
        "nurse",
        "ready",
    )
    assert follow_up["author_id"] == team.ids["physio"]
    assert follow_up["checklist"] == [{"text": "10 minutes", "done": False}]
    again = await client.get(f"/api/v1/tasks/{original['id']}", headers=nurse)
    assert again.json()["status"] == "completed"  # the original stays final
    assert again.json()["version"] == original["version"]
    board = (await client.get(f"/api/v1/plans/{team.plan_id}", headers=nurse)).json()
    assert {t["id"]: t["reopened_from_id"] for t in board["tasks"]} == {
        original["id"]: None,
        follow_up["id"]: original["id"],
    }
