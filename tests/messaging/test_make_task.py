"""Make this a task: POST /api/v1/messages/{id}/task puts a task on the message's board, linked both ways."""

from __future__ import annotations

from typing import Any

import pytest
from sqlmodel import select

from careteam.accounts.tables import User
from careteam.core.actor import actor_of
from careteam.core.errors import InvalidTransition, NotFound
from careteam.messaging import service as messaging
from careteam.messaging.schemas import MessageTaskCreate
from careteam.plans.board import apply_event
from careteam.plans.tables import Task
from tests.messaging.world import audit_rows, make_world, plan_events, post
from tests.referrals.world import World


async def make(client: Any, h: dict[str, str], message_id: int, body: Any = None, **headers: str) -> Any:
    return await client.post(f"/api/v1/messages/{message_id}/task", json=body, headers={**h, **headers})


async def test_a_message_becomes_a_task_on_its_board_linked_both_ways(
    client: Any, db: Any, login: Any
) -> None:
    w = await make_world(db)
    nurse, physician = await login(w.names["nurse"]), await login(w.names["physician"])
    body = "@psychology please review the **sleep diary** and [the log](https://example.org)\nthen call"
    message = (await post(client, physician, f"/plans/{w.plan_id}", body)).json()
    before = len(await plan_events(db, w.plan_id))

    r = await make(client, nurse, message["id"])
    assert r.status_code == 201, r.text
    task = r.json()
    # The first line, without Markdown markers; the author's lane (the physician's), not the nurse's.
    assert task["title"] == "@psychology please review the sleep diary and the log"
    assert task["discipline"] == "physician"
    assert task["message_id"] == message["id"] and task["plan_id"] == w.plan_id
    assert r.headers["Location"] == f"/api/v1/tasks/{task['id']}"

    # On the board live (task.created, with its audit row), and the message lists it.
    events = (await plan_events(db, w.plan_id))[before:]
    assert [e.kind for e in events] == ["task.created"]
    assert events[0].data["message_id"] == message["id"]
    created = await audit_rows(db, action="create", resource_type="task")
    assert [a.resource_id for a in created] == [str(task["id"])]
    page = (await client.get(f"/api/v1/plans/{w.plan_id}/messages", headers=nurse)).json()
    assert page["items"][0]["task_ids"] == [task["id"]]
    got = (await client.get(f"/api/v1/tasks/{task['id']}", headers=nurse)).json()
    assert got["message_id"] == message["id"]


async def test_title_and_lane_given_and_a_comment_made_a_task(client: Any, db: Any, login: Any) -> None:
    w = await make_world(db)
    nurse = await login(w.names["nurse"])
    first = await make(client, nurse, (await post(client, nurse, f"/plans/{w.plan_id}", "x")).json()["id"])
    task = first.json()
    comment = (await post(client, nurse, f"/tasks/{task['id']}", "```\ncode only\n```")).json()
    r = await make(client, nurse, comment["id"], {"title": "  Review PDMP  ", "discipline": "pharmacist"})
    assert r.status_code == 201, r.text
    assert (r.json()["title"], r.json()["discipline"]) == ("Review PDMP", "pharmacist")
    # No words outside code: a title that says where it came from.
    r = await make(client, nurse, comment["id"])
    assert r.json()["title"] == messaging.UNTITLED_TASK
    listed = (await client.get(f"/api/v1/tasks/{task['id']}/messages", headers=nurse)).json()
    assert len(listed["items"][0]["task_ids"]) == 2


async def test_a_long_first_line_is_cut_to_a_title(client: Any, db: Any, login: Any) -> None:
    w = await make_world(db)
    nurse = await login(w.names["nurse"])
    message = (await post(client, nurse, f"/plans/{w.plan_id}", "word " * 100)).json()
    r = await make(client, nurse, message["id"])
    assert r.status_code == 201, r.text
    assert len(r.json()["title"]) <= 200 and r.json()["title"].startswith("word word")


async def test_who_may_and_what_cannot(client: Any, db: Any, login: Any) -> None:
    w = await make_world(db)
    nurse = await login(w.names["nurse"])
    message = (await post(client, nurse, f"/plans/{w.plan_id}", "Book the RFA")).json()
    # Anonymous: 401; another team, or off the team: the message does not exist.
    assert (await make(client, {}, message["id"])).status_code == 401
    for who in ("outsider", "psy1"):
        r = await make(client, await login(w.names[who]), message["id"])
        assert r.status_code == 404, (who, r.text)
    # Removed: 409, and nothing on the board.
    r = await client.delete(f"/api/v1/messages/{message['id']}", headers={**nurse, "If-Match": 'W/"1"'})
    assert r.status_code == 200
    r = await make(client, nurse, message["id"])
    assert r.status_code == 409, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert await tasks_of(db, w) == []


async def tasks_of(db: Any, w: World) -> list[Task]:
    async with db() as s:
        return list(await s.exec(select(Task).where(Task.plan_id == w.plan_id)))


async def test_retries_with_one_key_make_one_task(client: Any, db: Any, login: Any) -> None:
    w = await make_world(db)
    nurse = await login(w.names["nurse"])
    message = (await post(client, nurse, f"/plans/{w.plan_id}", "Book the RFA")).json()
    answers = [await make(client, nurse, message["id"], {}, **{"Idempotency-Key": "mt-1"}) for _ in range(5)]
    assert {a.status_code for a in answers} == {201}
    assert len({a.json()["id"] for a in answers}) == 1
    assert [a.headers.get("Idempotent-Replayed") for a in answers] == [None] + ["true"] * 4
    other = await make(client, nurse, message["id"], {"title": "Else"}, **{"Idempotency-Key": "mt-1"})
    assert other.status_code == 422
    assert len(await tasks_of(db, w)) == 1


async def test_its_event_replays_onto_the_board(client: Any, db: Any, login: Any) -> None:
    w = await make_world(db)
    nurse, lead = await login(w.names["nurse"]), await login(w.names["lead"])
    message = (await post(client, nurse, f"/plans/{w.plan_id}", "Book the RFA")).json()
    before = (await client.get(f"/api/v1/plans/{w.plan_id}", headers=lead)).json()
    assert (await make(client, lead, message["id"])).status_code == 201
    after = (await client.get(f"/api/v1/plans/{w.plan_id}", headers=lead)).json()
    r = await client.get(
        f"/api/v1/plans/{w.plan_id}/events", params={"after": before["last_seq"]}, headers=lead
    )
    board = before
    for event in r.json()["items"]:
        board = apply_event(board, event)
    assert board == after
    assert after["tasks"][0]["message_id"] == message["id"]


async def test_the_service_refuses_another_team_and_a_removed_message(
    client: Any, db: Any, login: Any
) -> None:
    w = await make_world(db)
    nurse = await login(w.names["nurse"])
    message = (await post(client, nurse, f"/plans/{w.plan_id}", "Book the RFA")).json()
    async with db() as s:
        outsider = actor_of(await s.get(User, w.id("outsider")))
        with pytest.raises(NotFound):
            await messaging.make_task(s, message["id"], MessageTaskCreate(), actor=outsider)
    await client.delete(f"/api/v1/messages/{message['id']}", headers={**nurse, "If-Match": 'W/"1"'})
    async with db() as s:
        lead = actor_of(await s.get(User, w.id("lead")))
        with pytest.raises(InvalidTransition):
            await messaging.make_task(s, message["id"], MessageTaskCreate(), actor=lead)
