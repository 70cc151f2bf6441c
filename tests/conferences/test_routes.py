"""Conferences over HTTP: scheduling, who may read and write, the agenda's plans lent for the window,
advancing, decisions that make tasks and referrals, ending and rolling over (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlmodel import col, select

from careteam.audit.tables import AuditEntry
from careteam.core.actor import Actor
from careteam.core.errors import NotFound
from careteam.core.vocab import ClinicRole, Discipline
from careteam.events import streams
from careteam.events.tables import StreamEvent
from careteam.plans.board import read_board
from tests.conferences.world import Clinic, make_clinic, schedule_body


async def _heads(login: Any, c: Clinic, *names: str) -> list[dict[str, str]]:
    return [await login(c.usernames[n]) for n in names]


async def _schedule(client: Any, h: dict[str, str], c: Clinic, **fields: Any) -> dict[str, Any]:
    r = await client.post("/api/v1/conferences", json=schedule_body(c, **fields), headers=h)
    assert r.status_code == 201, r.text
    return dict(r.json())


async def _events(db: Any, conference_id: int) -> list[StreamEvent]:
    async with db() as s:
        query = select(StreamEvent).where(
            StreamEvent.stream_kind == streams.CONFERENCE, StreamEvent.stream_id == conference_id
        )
        return list(await s.exec(query.order_by(col(StreamEvent.seq))))


async def test_a_lead_schedules_a_conference_that_its_participants_read(
    client: Any, db: Any, login: Any
) -> None:
    c = await make_clinic(db)
    lead, doc, trainee, outsider = await _heads(login, c, "lead", "doc", "trainee", "outsider")
    conf = await _schedule(client, lead, c)
    assert conf["status"] == "scheduled"
    assert [i["plan_id"] for i in conf["items"]] == [c.plan1, c.plan2]
    assert [i["patient_name"] for i in conf["items"]] == ["Ellen Marsh", "Omar Haddad"]
    roles = {p["user_id"]: p["role"] for p in conf["participants"]}
    assert roles == {c.lead: "facilitator", c.doc: "attendee", c.psy: "attendee", c.trainee: "observer"}
    assert conf["last_seq"] == 1
    for h in (doc, trainee):
        r = await client.get(f"/api/v1/conferences/{conf['id']}", headers=h)
        assert r.status_code == 200, r.text
        assert r.json()["items"] == conf["items"]
    r = await client.get(f"/api/v1/conferences/{conf['id']}", headers=outsider)
    assert r.status_code == 404
    listed = (await client.get("/api/v1/conferences", headers=trainee)).json()
    assert [(i["id"], i["role"], i["items"]) for i in listed["items"]] == [(conf["id"], "observer", 2)]
    assert (await client.get("/api/v1/conferences", headers=outsider)).json()["total"] == 0
    # Invitees are told, with a link to the room; the lead who scheduled it is not.
    for h, told in ((doc, True), (trainee, True), (lead, False)):
        inbox = (await client.get("/api/v1/me/notifications", headers=h)).json()["items"]
        invited = [n for n in inbox if n["kind"] == "conference.invited"]
        assert [n["link"] for n in invited] == ([f"/conferences/{conf['id']}"] if told else [])


async def test_only_an_ipm_lead_schedules_and_the_agenda_must_be_on_her_care_teams(
    client: Any, db: Any, login: Any
) -> None:
    c = await make_clinic(db)
    lead, doc, outsider = await _heads(login, c, "lead", "doc", "outsider")
    r = await client.post("/api/v1/conferences", json=schedule_body(c), headers=doc)
    assert r.status_code == 403
    r = await client.post("/api/v1/conferences", json=schedule_body(c), headers=outsider)
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "items[0].plan_id"
    body = schedule_body(c, observer_ids=[c.doc])
    r = await client.post("/api/v1/conferences", json=body, headers=lead)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "observer_ids"
    body = schedule_body(c)
    body["items"][1]["presenter_id"] = c.trainee
    r = await client.post("/api/v1/conferences", json=body, headers=lead)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "items[1].presenter_id"
    async with db() as s:
        assert (
            await s.exec(select(StreamEvent).where(StreamEvent.stream_kind == streams.CONFERENCE))
        ).all() == []


async def test_the_agenda_plans_are_lent_read_only_for_the_window_and_audited(
    client: Any, db: Any, login: Any
) -> None:
    c = await make_clinic(db)
    lead, psy, trainee = await _heads(login, c, "lead", "psy", "trainee")
    # Not yet: the window opens 30 minutes before the start.
    later = await _schedule(client, lead, c, starts_at=datetime.now(UTC) + timedelta(hours=2))
    assert later["access_from"] > datetime.now(UTC).isoformat()
    observer = Actor(c.trainee, "t", "T", Discipline.nurse, ClinicRole.clinician)
    async with db() as s:
        with pytest.raises(NotFound):
            await read_board(s, c.plan1, actor=observer, viewing_at=datetime.now(UTC))
    conf = await _schedule(client, lead, c)
    async with db() as s:
        board = await read_board(s, c.plan1, actor=observer, viewing_at=datetime.now(UTC))
        assert board.plan.id == c.plan1
        grants = (await s.exec(select(AuditEntry).where(AuditEntry.resource_type == "plan_grant"))).all()
    # Each plan lent to each participant off its care team: psy and trainee both plans, doc the second.
    lent = sorted(g.resource_id for g in grants if g.resource_id and g.resource_id.endswith(f":{conf['id']}"))
    assert lent == sorted(
        [
            f"{c.plan1}:{c.psy}:conference:{conf['id']}",
            f"{c.plan1}:{c.trainee}:conference:{conf['id']}",
            f"{c.plan2}:{c.doc}:conference:{conf['id']}",
            f"{c.plan2}:{c.psy}:conference:{conf['id']}",
            f"{c.plan2}:{c.trainee}:conference:{conf['id']}",
        ]
    )
    # Read only: the board's API (a write) stays the care team's.
    r = await client.post(
        f"/api/v1/plans/{c.plan1}/tasks", json={"title": "x", "discipline": "psychologist"}, headers=psy
    )
    assert r.status_code == 404
    # Observers write nothing on the conference either.
    r = await client.post(f"/api/v1/conferences/{conf['id']}/advance", json={}, headers=trainee)
    assert r.status_code == 403
    r = await client.post(f"/api/v1/conferences/{conf['id']}/advance", json={}, headers=psy)
    assert r.status_code == 403
    # Ended: the loan ends with it.
    r = await client.patch(
        f"/api/v1/conferences/{conf['id']}", json={"status": "ended"}, headers={**lead, "If-Match": '"1"'}
    )
    assert r.status_code == 200, r.text
    async with db() as s:
        with pytest.raises(NotFound):
            await read_board(s, c.plan1, actor=observer, viewing_at=datetime.now(UTC))


async def test_advancing_moves_everyone_and_decisions_make_tasks_and_referrals(
    client: Any, db: Any, login: Any
) -> None:
    c = await make_clinic(db)
    (lead,) = await _heads(login, c, "lead")
    conf = await _schedule(client, lead, c)
    cid = conf["id"]
    first, second = (i["id"] for i in conf["items"])
    r = await client.post(f"/api/v1/conferences/{cid}/advance", json={}, headers=lead)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "in-progress" and r.json()["current_item_id"] == first
    r = await client.post(
        f"/api/v1/conferences/{cid}/items/{first}/decisions",
        json={
            "text": "Proceed to RFA L4-L5 bilateral",
            "task": {"discipline": "physician", "assignee_id": c.doc, "due_date": "2027-01-15"},
        },
        headers=lead,
    )
    assert r.status_code == 201, r.text
    decision = r.json()
    assert decision["kind"] == "task" and decision["task_id"]
    board = (await client.get(f"/api/v1/plans/{c.plan1}", headers=lead)).json()
    task = next(t for t in board["tasks"] if t["id"] == decision["task_id"])
    assert (task["title"], task["assignee_id"], task["due_date"]) == (
        "Proceed to RFA L4-L5 bilateral",
        c.doc,
        "2027-01-15",
    )
    r = await client.post(f"/api/v1/conferences/{cid}/advance", json={}, headers=lead)
    assert r.json()["current_item_id"] == second
    assert [i["status"] for i in r.json()["items"]] == ["discussed", "pending"]
    r = await client.post(
        f"/api/v1/conferences/{cid}/items/{second}/decisions",
        json={"text": "Psychology to see before next conference", "referral": {"discipline": "psychologist"}},
        headers=lead,
    )
    assert r.status_code == 201, r.text
    assert r.json()["kind"] == "referral" and r.json()["referral_id"]
    r = await client.post(f"/api/v1/conferences/{cid}/advance", json={}, headers=lead)
    assert r.status_code == 409
    kinds = [e.kind for e in await _events(db, cid)]
    assert kinds == [
        "conference.updated",
        "conference.advanced",
        "conference.decision",
        "conference.advanced",
        "conference.decision",
    ]
    summary = (await client.get(f"/api/v1/conferences/{cid}/summary", headers=lead)).json()
    decisions = [d for i in summary["items"] for d in i["decisions"]]
    assert [d["task_title"] for d in decisions] == ["Proceed to RFA L4-L5 bilateral", None]
    assert [d["referral_discipline"] for d in decisions] == [None, "psychologist"]


async def test_ending_marks_what_was_not_reached_and_it_rolls_over(client: Any, db: Any, login: Any) -> None:
    c = await make_clinic(db)
    (lead,) = await _heads(login, c, "lead")
    conf = await _schedule(client, lead, c)
    cid = conf["id"]
    r = await client.post(f"/api/v1/conferences/{cid}/advance", json={}, headers=lead)
    version = r.json()["version"]
    r = await client.patch(
        f"/api/v1/conferences/{cid}", json={"status": "ended"}, headers={**lead, "If-Match": f'"{version}"'}
    )
    assert r.status_code == 200, r.text
    ended = r.json()
    assert ended["status"] == "ended" and [i["status"] for i in ended["items"]] == [
        "discussed",
        "not-reached",
    ]
    board = (await client.get(f"/api/v1/plans/{c.plan1}", headers=lead)).json()
    assert board["plan"]["last_reviewed_at"] == ended["ended_at"]
    nxt = await _schedule(client, lead, c, items=[])
    assert [(i["plan_id"], i["carried_from_id"]) for i in nxt["items"]] == [
        (c.plan2, ended["items"][1]["id"])
    ]
    # Carried once: the one after gets nothing more.
    again = await _schedule(client, lead, c, items=[])
    assert again["items"] == []
    # After the meeting the minutes can still be completed, nothing else.
    item = ended["items"][0]
    r = await client.patch(
        f"/api/v1/conferences/{cid}/items/{item['id']}",
        json={"minutes": "RFA agreed; PT after."},
        headers={**lead, "If-Match": f'"{item["version"]}"'},
    )
    assert r.status_code == 200, r.text
    assert r.json()["items"][0]["minutes"] == "RFA agreed; PT after."
    r = await client.patch(
        f"/api/v1/conferences/{cid}/items/{item['id']}",
        json={"status": "deferred"},
        headers={**lead, "If-Match": f'"{item["version"] + 1}"'},
    )
    assert r.status_code == 409
    # A stale If-Match changes nothing.
    r = await client.patch(
        f"/api/v1/conferences/{nxt['id']}", json={"title": "x"}, headers={**lead, "If-Match": '"9"'}
    )
    assert r.status_code == 412
