"""Urgent messages: who must acknowledge, acknowledging over the JSON API, and My work keeping them on top."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlmodel import select

from careteam.core.vocab import Discipline
from careteam.messaging.codes import MessageEvent
from careteam.notifications.codes import NotificationKind
from careteam.patients.codes import TeamRole
from careteam.patients.tables import CareTeam, CareTeamMember
from careteam.plans.board import apply_event
from tests.factories import make_user
from tests.messaging.world import (
    World,
    audit_rows,
    make_task,
    make_world,
    messages,
    notified,
    plan_events,
    take_off_team,
    user_event_kinds,
)
from tests.plans.test_pages import cookie

APIXABAN = "Hold apixaban from Monday for Thursday's procedure"
UDS = "UDS unexpected result: discuss before next prescription"


async def send(client: Any, h: dict[str, str], w: World, body: str, **urgent: Any) -> Any:
    return await client.post(
        f"/api/v1/plans/{w.plan_id}/messages", json={"body": body, "urgent": urgent}, headers=h
    )


async def ack(client: Any, h: dict[str, str], message_id: int) -> Any:
    return await client.post(f"/api/v1/messages/{message_id}/ack", headers=h)


async def urgent_ids(client: Any, h: dict[str, str]) -> list[int]:
    """The urgent messages at the top of her My work, as a user sees them (the page's JSON)."""
    r = await client.get("/api/v1/me/work", headers=h)
    assert r.status_code == 200, r.text
    return [u["message_id"] for u in r.json()["urgent"]]


async def add_member(db: Any, w: World, name: str, discipline: Discipline) -> None:
    """Another clinician of this discipline on Ellen's care team."""
    async with db() as s:
        user = await make_user(s, f"{name}-{w.plan_id}", discipline=discipline)
        team = (await s.exec(select(CareTeam).where(CareTeam.patient_id == w.patient_id))).one()
        s.add(
            CareTeamMember(
                team_id=team.id or 0, user_id=user.id or 0, role=TeamRole.member, discipline=discipline
            )
        )
        await s.commit()
        w.ids[name], w.names[name] = user.id or 0, user.username


async def test_the_shape_of_an_urgent_message_and_its_ack(client: Any, db: Any, login: Any) -> None:
    w = await make_world(db)
    lead, nurse = await login(w.names["lead"]), await login(w.names["nurse"])
    # Anonymous: 401, and nothing stored.
    assert (await send(client, {}, w, APIXABAN, users=[w.id("nurse")])).status_code == 401
    assert (await ack(client, {}, 1)).status_code == 401
    # Another team's lead: the plan is not hers to see.
    outsider = await login(w.names["outsider"])
    assert (await send(client, outsider, w, APIXABAN, users=[w.id("outsider")])).status_code == 404
    # Invalid input names the field.
    for urgent, field in (
        ({}, "body.urgent"),
        ({"users": ["x"]}, "body.urgent.users.0"),
        ({"users": [0]}, "body.urgent.users.0"),
        ({"disciplines": ["surgeon"]}, "body.urgent.disciplines.0"),
        ({"users": [w.id("nurse")], "any_of_discipline": "maybe"}, "body.urgent.any_of_discipline"),
        ({"users": [w.id("nurse")], "everyone": True}, "body.urgent.everyone"),
        ({"users": list(range(1, 52))}, "body.urgent.users"),
        ({"users": [w.id("lead")]}, "body.urgent.users"),  # herself
        ({"disciplines": ["psychologist"]}, "body.urgent.disciplines"),  # none on the team
    ):
        r = await client.post(
            f"/api/v1/plans/{w.plan_id}/messages", json={"body": APIXABAN, "urgent": urgent}, headers=lead
        )
        assert r.status_code == 422, (urgent, r.text)
        assert field in [e["field"] for e in r.json()["errors"]], (urgent, r.json())
    assert await messages(db) == [] and await plan_events(db, w.plan_id) == []
    # Valid: a message to the nurse by name and to the physicians, each of them.
    r = await send(client, lead, w, APIXABAN, users=[w.id("nurse")], disciplines=["physician"])
    assert r.status_code == 201, r.text
    m = r.json()
    assert m["urgent"] == {
        "users": [w.id("nurse")],
        "disciplines": ["physician"],
        "any_of_discipline": False,
        "waiting_for": sorted([w.id("nurse"), w.id("physician")]),
    }
    assert m["acks"] == [] and m["acknowledged"] is False
    # Not urgent: no requirements, nothing to acknowledge.
    plain = (
        await client.post(f"/api/v1/plans/{w.plan_id}/messages", json={"body": "hi"}, headers=lead)
    ).json()
    assert plain["urgent"] is None and plain["acks"] == [] and plain["acknowledged"] is False
    assert (await ack(client, nurse, plain["id"])).status_code == 403
    # Acknowledging: anonymous 401, another team 404, not asked 403, then valid.
    assert (await ack(client, outsider, m["id"])).status_code == 404
    assert (await ack(client, lead, m["id"])).status_code == 403
    assert (await ack(client, nurse, 2**31)).status_code == 422
    r = await ack(client, nurse, m["id"])
    assert r.status_code == 200, r.text
    acked = r.json()
    assert [a["user_id"] for a in acked["acks"]] == [w.id("nurse")]
    assert acked["acks"][0]["display_name"].startswith("Test nurse")
    assert acked["urgent"]["waiting_for"] == [w.id("physician")] and acked["acknowledged"] is False
    assert acked["version"] == m["version"]  # an acknowledgement is not an edit
    updates = await audit_rows(db, action="update", resource_type="message")
    assert [(a.resource_id, a.user_id, a.patient_id) for a in updates] == [
        (str(m["id"]), w.id("nurse"), w.patient_id)
    ]
    # The thread shows the same.
    page = (await client.get(f"/api/v1/plans/{w.plan_id}/messages", headers=lead)).json()
    shown = next(i for i in page["items"] if i["id"] == m["id"])
    assert shown["acks"] == acked["acks"] and shown["urgent"] == acked["urgent"]


async def test_an_urgent_message_stays_on_the_physicians_work_until_he_acknowledges(
    client: Any, db: Any, login: Any
) -> None:
    w = await make_world(db)
    nurse, physician = await login(w.names["nurse"]), await login(w.names["physician"])
    m = (await send(client, nurse, w, UDS, users=[w.id("physician")])).json()
    # He is told: My work first, then his inbox (lock order), with an urgent notification linking to it.
    assert await user_event_kinds(db, w.id("physician")) == [
        "messages.unread",  # the header's Messages badge, as for every message
        "work.changed",
        "notification.created",
    ]
    told = await notified(db, w.id("physician"))
    assert [(n.kind, n.link) for n in told] == [
        (NotificationKind.message_urgent, f"/plans/{w.plan_id}#message-{m['id']}")
    ]
    # It is at the top of his My work, linking to the message, whatever else waits; not on the sender's.
    work = (await client.get("/api/v1/me/work", headers=physician)).json()
    assert [(u["message_id"], u["link"], u["body"]) for u in work["urgent"]] == [
        (m["id"], f"/plans/{w.plan_id}#message-{m['id']}", UDS)
    ]
    assert work["urgent"][0]["patient"] == {"id": w.patient_id, "name": "Ellen Marsh"}
    assert await urgent_ids(client, nurse) == []
    # Still there later, and on a filtered page of his list.
    assert await urgent_ids(client, physician) == [m["id"]]
    r = await client.get(f"/api/v1/me/work?patient_id={w.patient_id}&offset=5", headers=physician)
    assert [u["message_id"] for u in r.json()["urgent"]] == [m["id"]]
    r = await client.get(f"/api/v1/me/work?patient_id={w.other_plan_id + 10_000}", headers=physician)
    assert r.json()["urgent"] == []
    seen = len(await plan_events(db, w.plan_id))
    # He acknowledges: gone from his list; the sender sees it on the plan's stream, with who and when.
    r = await ack(client, physician, m["id"])
    assert r.status_code == 200 and r.json()["acknowledged"] is True
    assert await urgent_ids(client, physician) == []
    events = (await plan_events(db, w.plan_id))[seen:]
    assert [(e.kind, e.actor_id) for e in events] == [(MessageEvent.acknowledged, w.id("physician"))]
    data = events[0].data
    assert data["id"] == m["id"] and data["acknowledged"] is True and data["urgent"]["waiting_for"] == []
    assert [a["user_id"] for a in data["acks"]] == [w.id("physician")] and data["acks"][0]["at"]
    assert (await user_event_kinds(db, w.id("physician")))[-1] == "work.changed"


async def test_any_one_of_a_discipline_is_cleared_for_all_by_one_colleague(
    client: Any, db: Any, login: Any
) -> None:
    w = await make_world(db)
    await add_member(db, w, "nurse2", Discipline.nurse)
    lead = await login(w.names["lead"])
    nurse, nurse2 = await login(w.names["nurse"]), await login(w.names["nurse2"])
    m = (await send(client, lead, w, APIXABAN, disciplines=["nurse"], any_of_discipline=True)).json()
    assert m["urgent"]["any_of_discipline"] is True
    assert m["urgent"]["waiting_for"] == sorted([w.id("nurse"), w.id("nurse2")])
    assert await urgent_ids(client, nurse) == [m["id"]] and await urgent_ids(client, nurse2) == [m["id"]]
    assert await urgent_ids(client, await login(w.names["physician"])) == []
    before = await user_event_kinds(db, w.id("nurse"))
    r = (await ack(client, nurse2, m["id"])).json()
    assert r["acknowledged"] is True and r["urgent"]["waiting_for"] == []
    # Cleared for both, and both open My work pages were told.
    assert await urgent_ids(client, nurse) == [] and await urgent_ids(client, nurse2) == []
    assert await user_event_kinds(db, w.id("nurse")) == [*before, "work.changed"]
    assert (await user_event_kinds(db, w.id("nurse2")))[-1] == "work.changed"
    # The other nurse may still acknowledge (she was asked), and it is recorded.
    r = (await ack(client, nurse, m["id"])).json()
    assert sorted(a["user_id"] for a in r["acks"]) == sorted([w.id("nurse"), w.id("nurse2")])


async def test_each_of_a_discipline_needs_each_of_them(client: Any, db: Any, login: Any) -> None:
    w = await make_world(db)
    await add_member(db, w, "nurse2", Discipline.nurse)
    lead = await login(w.names["lead"])
    nurse, nurse2 = await login(w.names["nurse"]), await login(w.names["nurse2"])
    m = (await send(client, lead, w, APIXABAN, disciplines=["nurse"])).json()
    before = await user_event_kinds(db, w.id("nurse2"))
    r = (await ack(client, nurse, m["id"])).json()
    assert r["acknowledged"] is False and r["urgent"]["waiting_for"] == [w.id("nurse2")]
    assert await urgent_ids(client, nurse) == [] and await urgent_ids(client, nurse2) == [m["id"]]
    # Her colleague's list did not change: no event for her.
    assert await user_event_kinds(db, w.id("nurse2")) == before
    r = (await ack(client, nurse2, m["id"])).json()
    assert r["acknowledged"] is True and await urgent_ids(client, nurse2) == []


async def test_naming_an_outsider_is_refused_and_reveals_nothing(client: Any, db: Any, login: Any) -> None:
    w = await make_world(db)
    lead = await login(w.names["lead"])
    # psy1 exists but is off the team; 2**31 - 1 is no one: the same answer.
    off = await send(client, lead, w, UDS, users=[w.id("nurse"), w.id("psy1")])
    ghost = await send(client, lead, w, UDS, users=[w.id("nurse"), 2**31 - 1])
    assert off.status_code == ghost.status_code == 422
    assert off.json() == ghost.json()
    assert [e["field"] for e in off.json()["errors"]] == ["body.urgent.users"]
    assert await messages(db) == [] and await notified(db, w.id("psy1")) == []
    assert await user_event_kinds(db, w.id("psy1")) == [] and await user_event_kinds(db, w.id("nurse")) == []


async def test_acknowledging_twice_records_nothing_new(client: Any, db: Any, login: Any) -> None:
    w = await make_world(db)
    nurse, physician = await login(w.names["nurse"]), await login(w.names["physician"])
    m = (await send(client, nurse, w, UDS, users=[w.id("physician")])).json()
    first = await ack(client, physician, m["id"])
    events = len(await plan_events(db, w.plan_id))
    kinds = await user_event_kinds(db, w.id("physician"))
    again = await ack(client, physician, m["id"])
    assert again.status_code == 200 and again.json() == first.json()
    assert len(await plan_events(db, w.plan_id)) == events
    assert await user_event_kinds(db, w.id("physician")) == kinds
    assert len(await audit_rows(db, action="update", resource_type="message")) == 1


async def test_a_member_taken_off_the_team_is_no_longer_asked(client: Any, db: Any, login: Any) -> None:
    w = await make_world(db)
    lead, physician = await login(w.names["lead"]), await login(w.names["physician"])
    m = (await send(client, lead, w, UDS, users=[w.id("physician"), w.id("nurse")])).json()
    await take_off_team(client, lead, w, "physician")
    assert (await ack(client, physician, m["id"])).status_code == 404
    assert await urgent_ids(client, physician) == []
    shown = (await client.get(f"/api/v1/plans/{w.plan_id}/messages", headers=lead)).json()["items"][0]
    assert shown["urgent"]["waiting_for"] == [w.id("nurse")] and shown["acks"] == []


async def test_a_removed_urgent_message_leaves_my_work_and_cannot_be_acknowledged(
    client: Any, db: Any, login: Any
) -> None:
    w = await make_world(db)
    lead, nurse = await login(w.names["lead"]), await login(w.names["nurse"])
    m = (await send(client, lead, w, UDS, users=[w.id("nurse")])).json()
    r = await client.delete(f"/api/v1/messages/{m['id']}", headers={**lead, "If-Match": 'W/"1"'})
    assert r.status_code == 200, r.text
    assert await urgent_ids(client, nurse) == []
    assert (await ack(client, nurse, m["id"])).status_code == 409


async def test_my_work_page_shows_urgent_messages_first_as_links(
    app: Any, client: Any, db: Any, login: Any
) -> None:
    w = await make_world(db)
    nurse = await login(w.names["nurse"])
    hostile = "<script>alert(1)</script> " + "hold apixaban " * 20
    m = (await send(client, nurse, w, hostile, users=[w.id("physician")])).json()
    page = await cookie(app, db, w.names["physician"])
    html = (await client.get("/work", headers=page)).text
    urgent = html.index('id="work-urgent"')
    assert urgent < html.index('id="work-groups"') and "Urgent: please acknowledge" in html
    section = html[urgent : html.index('id="work-groups"')]
    assert f'href="/plans/{w.plan_id}#message-{m["id"]}"' in section and "Ellen Marsh" in section
    assert "&lt;script&gt;alert(1)&lt;/script&gt; hold apixaban" in section and "<script>alert" not in html
    assert "…</a>" in section  # a long message shows as an excerpt
    # No task waits for him, but he is not told that nothing does.
    assert '<p class="empty" id="work-none" hidden>' in html
    # Acknowledged: the section is hidden (work.js shows it again when one arrives).
    await ack(client, await login(w.names["physician"]), m["id"])
    html = (await client.get("/work", headers=page)).text
    assert 'id="work-urgent" aria-labelledby="work-urgent-title" hidden>' in html
    assert f"#message-{m['id']}" not in html


async def test_replaying_the_events_gives_the_board_and_thread_read_after(
    client: Any, db: Any, login: Any
) -> None:
    w = await make_world(db)
    await add_member(db, w, "nurse2", Discipline.nurse)
    lead = await login(w.names["lead"])
    board = (await client.get(f"/api/v1/plans/{w.plan_id}", headers=lead)).json()
    seen = len(await plan_events(db, w.plan_id))
    m = (await send(client, lead, w, APIXABAN, disciplines=["nurse", "physician"])).json()
    for who in ("nurse", "physician", "nurse2"):
        assert (await ack(client, await login(w.names[who]), m["id"])).status_code == 200
    events = (await plan_events(db, w.plan_id))[seen:]
    assert [e.kind for e in events] == [MessageEvent.created, *[MessageEvent.acknowledged] * 3]
    assert [e.data["acknowledged"] for e in events] == [False, False, False, True]
    # The thread as a client keeps it: each event's message replaces the one with its id.
    thread: dict[int, Any] = {}
    for e in events:
        board = apply_event(board, {"seq": e.seq, "kind": e.kind, "data": e.data})
        thread[e.data["id"]] = e.data
    assert board == (await client.get(f"/api/v1/plans/{w.plan_id}", headers=lead)).json()
    page = (await client.get(f"/api/v1/plans/{w.plan_id}/messages", headers=lead)).json()
    assert list(thread.values()) == page["items"]


async def test_concurrent_acknowledgements_are_each_recorded_once(client: Any, db: Any, login: Any) -> None:
    w = await make_world(db)
    await add_member(db, w, "nurse2", Discipline.nurse)
    lead = await login(w.names["lead"])
    nurse, nurse2 = await login(w.names["nurse"]), await login(w.names["nurse2"])
    m = (await send(client, lead, w, APIXABAN, disciplines=["nurse"], any_of_discipline=True)).json()
    seen = len(await plan_events(db, w.plan_id))
    answers = await asyncio.gather(*(ack(client, h, m["id"]) for h in (nurse, nurse2, nurse, nurse2)))
    assert [a.status_code for a in answers] == [200] * 4, [a.text for a in answers]
    events = (await plan_events(db, w.plan_id))[seen:]
    assert sorted(e.actor_id for e in events) == sorted([w.id("nurse"), w.id("nurse2")])
    assert all(e.data["acknowledged"] for e in events)
    final = (await client.get(f"/api/v1/plans/{w.plan_id}/messages", headers=lead)).json()["items"][0]
    assert sorted(a["user_id"] for a in final["acks"]) == sorted([w.id("nurse"), w.id("nurse2")])
    # Each nurse's My work was told once that the message left it: by whichever acknowledged first.
    for who in ("nurse", "nurse2"):
        assert (await user_event_kinds(db, w.id(who))).count("work.changed") == 2  # sent, then cleared


async def test_my_work_lists_urgent_messages_oldest_first_and_only_those_awaiting_her(
    client: Any, db: Any, login: Any
) -> None:
    w = await make_world(db)
    await add_member(db, w, "nurse2", Discipline.nurse)
    lead, nurse = await login(w.names["lead"]), await login(w.names["nurse"])
    first = (await send(client, lead, w, APIXABAN, users=[w.id("nurse")])).json()
    cleared = (await send(client, lead, w, UDS, disciplines=["nurse"], any_of_discipline=True)).json()
    other = (await send(client, lead, w, UDS, users=[w.id("physician")])).json()
    last = (await send(client, lead, w, "Call the patient", disciplines=["nurse"])).json()
    assert await urgent_ids(client, nurse) == [first["id"], cleared["id"], last["id"]]
    await ack(client, await login(w.names["nurse2"]), cleared["id"])
    assert await urgent_ids(client, nurse) == [first["id"], last["id"]]
    assert other["id"] not in await urgent_ids(client, nurse)


async def test_an_urgent_task_comment_links_to_its_task(client: Any, db: Any, login: Any) -> None:
    w = await make_world(db)
    lead, physician = await login(w.names["lead"]), await login(w.names["physician"])
    task = await make_task(client, lead, w)
    r = await client.post(
        f"/api/v1/tasks/{task['id']}/messages",
        json={"body": UDS, "urgent": {"disciplines": ["physician"]}},
        headers=lead,
    )
    assert r.status_code == 201, r.text
    work = (await client.get("/api/v1/me/work", headers=physician)).json()["urgent"]
    assert [(u["message_id"], u["task_id"], u["link"]) for u in work] == [
        (r.json()["id"], task["id"], f"/plans/{w.plan_id}#task-{task['id']}")
    ]
    told = await notified(db, w.id("physician"))
    assert [(n.kind, n.link) for n in told] == [(NotificationKind.message_urgent, work[0]["link"])]
