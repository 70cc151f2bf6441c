"""The protocols pages, server-side: an IPM lead saves a template and its next version through the form,
a refused form says why and stores nothing, others read it only; the board's Protocols panel applies one,
and the board read before with the application's events applied equals the board read after."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func
from sqlmodel import select

from careteam.plans.board import apply_event
from careteam.protocols.tables import ProtocolApplication, ProtocolVersion
from tests.board_world import make_board
from tests.plans.test_pages import cookie
from tests.referrals.test_pages import csrf

FORM = {
    "name": "Spinal cord stimulator trial",
    "description": "Work-up before the trial",
    "status": "active",
    "goal_description": ["Decide on SCS implant", ""],
    "goal_target": ["50% relief in the trial", ""],
    "goal_offset": ["45", ""],
    "task_key": ["psych", "trial", ""],
    "task_title": ["Psychological clearance", "SCS trial", ""],
    "task_discipline": ["psychologist", "physician", "nurse"],
    "task_priority": ["routine", "urgent", "routine"],
    "task_offset": ["14", "30", ""],
    "task_gates": ["", "psych", ""],
    "task_description": ["", "", ""],
}


async def _versions(db: Any) -> int:
    async with db() as s:
        return int((await s.exec(select(func.count()).select_from(ProtocolVersion))).one())


async def test_an_ipm_lead_saves_a_template_and_its_next_version(app: Any, client: Any, db: Any) -> None:
    b = await make_board(db)
    headers = await cookie(app, db, b.lead)
    page = await client.get("/templates/new", headers=headers)
    assert page.status_code == 200
    token = csrf(page.text)
    r = await client.post("/templates", data={**FORM, "csrf_token": token}, headers=headers)
    assert r.status_code == 303, r.text
    url = r.headers["location"]
    shown = (await client.get(url, headers=headers)).text
    assert "SCS trial" in shown and "Psychological clearance" in shown and "Save as version 2" in shown
    edited = {**FORM, "version": "1", "task_title": ["Psychological clearance", "SCS trial (7 days)", ""]}
    r = await client.post(url, data={**edited, "csrf_token": token}, headers=headers)
    assert r.status_code == 303, r.text
    assert "SCS trial (7 days)" in (await client.get(url, headers=headers)).text
    assert "SCS trial (7 days)" not in (await client.get(url + "?version=1", headers=headers)).text
    # Saved from version 1 again: someone saved first, nothing stored.
    r = await client.post(url, data={**edited, "csrf_token": token}, headers=headers)
    assert r.status_code == 412
    assert await _versions(db) == 2
    # A nurse reads, without the form.
    nurse = await cookie(app, db, b.nurse)
    page = await client.get(url, headers=nurse)
    assert page.status_code == 200 and "template-form" not in page.text
    assert (await client.get("/templates/new", headers=nurse)).status_code == 403


async def test_a_refused_template_form_says_why_and_stores_nothing(app: Any, client: Any, db: Any) -> None:
    b = await make_board(db)
    headers = await cookie(app, db, b.lead)
    token = csrf((await client.get("/templates/new", headers=headers)).text)
    cases = [
        ({**FORM, "task_gates": ["", "nope", ""]}, "unknown keys nope"),
        ({**FORM, "task_gates": ["trial", "psych", ""]}, "circle"),
        ({**FORM, "task_offset": ["-2", "30", ""]}, "Task 1"),
        ({**FORM, "task_title": ["", "", ""]}, "tasks"),
        ({**FORM, "name": ""}, "name"),
    ]
    for form, words in cases:
        r = await client.post("/templates", data={**form, "csrf_token": token}, headers=headers)
        assert r.status_code == 422, r.text
        assert words in r.text, words
        assert 'role="alert"' in r.text
    assert await _versions(db) == 0


async def test_the_board_panel_applies_a_protocol_and_its_events_replay(
    app: Any, client: Any, db: Any, login: Any
) -> None:
    b = await make_board(db)
    h = await login(b.lead)
    headers = await cookie(app, db, b.lead)
    token = csrf((await client.get("/templates/new", headers=headers)).text)
    r = await client.post("/templates", data={**FORM, "csrf_token": token}, headers=headers)
    template_id = int(r.headers["location"].rsplit("/", 1)[1])
    board_page = (await client.get(f"/plans/{b.plan_id}", headers=headers)).text
    assert 'id="protocols"' in board_page and "Apply protocol" in board_page
    assert "Spinal cord stimulator trial (version 1)" in board_page
    before = (await client.get(f"/api/v1/plans/{b.plan_id}", headers=h)).json()
    # A start date that is not one: the form again, on its own page, naming the field.
    r = await client.post(
        f"/plans/{b.plan_id}/apply-template",
        data={"template_id": str(template_id), "start_date": "soon", "csrf_token": token},
        headers=headers,
    )
    assert r.status_code == 422
    assert "apply-start_date-error" in r.text
    r = await client.post(
        f"/plans/{b.plan_id}/apply-template",
        data={"template_id": str(template_id), "start_date": "2027-01-04", "csrf_token": token},
        headers=headers,
    )
    assert r.status_code == 303, r.text
    after = (await client.get(f"/api/v1/plans/{b.plan_id}", headers=h)).json()
    events = (
        await client.get(f"/api/v1/plans/{b.plan_id}/events", params={"after": before["last_seq"]}, headers=h)
    ).json()["items"]
    replayed = before
    for event in events:
        replayed = apply_event(replayed, event)
    assert replayed == after
    assert [t["title"] for t in after["tasks"][-2:]] == ["Psychological clearance", "SCS trial"]
    board_page = (await client.get(f"/plans/{b.plan_id}", headers=headers)).text
    assert "applied the protocol “Spinal cord stimulator trial” (version 1)" in board_page
    async with db() as s:
        assert len((await s.exec(select(ProtocolApplication))).all()) == 1
    # The nurse sees what was applied, not the form.
    nurse = (await client.get(f"/plans/{b.plan_id}", headers=await cookie(app, db, b.nurse))).text
    assert "Spinal cord stimulator trial, version 1" in nurse and 'id="apply-form"' not in nurse
