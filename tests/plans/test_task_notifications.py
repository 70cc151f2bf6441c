"""Tasks tell people: an assignee is notified (never of her own assignment), and every change to someone's
"My work" list puts ``work.changed`` on her stream; a card moved within its column tells nobody."""

from __future__ import annotations

from typing import Any

from sqlmodel import col, select

from careteam.events import streams
from careteam.events.tables import StreamEvent
from careteam.notifications.tables import Notification
from tests.board_world import make_board


async def _user_events(db: Any) -> list[tuple[int, str, Any]]:
    async with db() as s:
        rows = await s.exec(
            select(StreamEvent).where(StreamEvent.stream_kind == streams.USER).order_by(col(StreamEvent.id))
        )
        return [(e.stream_id, e.kind, e.data) for e in rows]


async def _ids(db: Any, b: Any) -> dict[str, int]:
    from careteam.accounts.tables import User

    async with db() as s:
        users = await s.exec(select(User).where(col(User.username).in_([b.lead, b.nurse, b.physio])))
        by_name = {u.username: u.id or 0 for u in users}
    return {"lead": by_name[b.lead], "nurse": by_name[b.nurse], "physio": by_name[b.physio]}


async def _patch(client: Any, h: dict[str, str], task: dict[str, Any], **body: Any) -> dict[str, Any]:
    r = await client.patch(
        f"/api/v1/tasks/{task['id']}", json=body, headers={**h, "If-Match": f'W/"{task["version"]}"'}
    )
    assert r.status_code == 200, r.text
    return dict(r.json())


async def test_assigning_a_task_notifies_the_assignee_once_and_refreshes_worklists(
    client: Any, db: Any, login: Any
) -> None:
    b = await make_board(db, patient_name="Ellen Marsh")
    who = await _ids(db, b)
    h = await login(b.lead)
    r = await client.post(
        f"/api/v1/plans/{b.plan_id}/tasks", json={"title": "UDS due", "discipline": "nurse"}, headers=h
    )
    task = r.json()
    # Unassigned: the nurses of the team (the pool) see it on "My work"; nobody is notified.
    assert await _user_events(db) == [
        (who["nurse"], "work.changed", {"plan_id": b.plan_id, "reason": "task.created"})
    ]
    task = await _patch(client, h, task, assignee_id=who["nurse"])
    async with db() as s:
        [note] = list(await s.exec(select(Notification)))
    assert (note.user_id, note.kind, note.title) == (
        who["nurse"],
        "task.assigned",
        "Assigned to you: UDS due — Ellen Marsh",
    )
    assert (note.link, note.patient_id, note.plan_id, note.task_id) == (
        f"/plans/{b.plan_id}#task-{task['id']}",
        b.patient_id,
        b.plan_id,
        task["id"],
    )
    events = (await _user_events(db))[1:]
    assert [(user, kind) for user, kind, _ in events] == [
        (who["nurse"], "work.changed"),
        (who["nurse"], "notification.created"),
    ]
    assert events[0][2] == {"plan_id": b.plan_id, "reason": "task.assigned"}
    assert events[1][2]["unread"] == 1 and events[1][2]["task_id"] == task["id"]
    # Handed to the physio: the physio is notified; both worklists change; the pool is not involved.
    await _patch(client, h, task, assignee_id=who["physio"])
    events = (await _user_events(db))[3:]
    assert [(user, kind) for user, kind, _ in events] == [
        (who["nurse"], "work.changed"),
        (who["physio"], "work.changed"),
        (who["physio"], "notification.created"),
    ]


async def test_a_task_created_for_someone_notifies_her_and_self_assignment_does_not(
    client: Any, db: Any, login: Any
) -> None:
    b = await make_board(db)
    who = await _ids(db, b)
    h = await login(b.nurse)
    for assignee in (who["physio"], who["nurse"]):
        r = await client.post(
            f"/api/v1/plans/{b.plan_id}/tasks",
            json={"title": "Home exercise plan", "discipline": "physical_therapist", "assignee_id": assignee},
            headers=h,
        )
        assert r.status_code == 201, r.text
    async with db() as s:
        notes = list(await s.exec(select(Notification)))
    assert [n.user_id for n in notes] == [who["physio"]]
    assert [(user, kind) for user, kind, _ in await _user_events(db)] == [
        (who["physio"], "work.changed"),
        (who["physio"], "notification.created"),
        (who["nurse"], "work.changed"),
    ]


async def test_unassigning_refreshes_the_old_assignee_and_the_pool(client: Any, db: Any, login: Any) -> None:
    b = await make_board(db)
    who = await _ids(db, b)
    h = await login(b.lead)
    r = await client.post(
        f"/api/v1/plans/{b.plan_id}/tasks",
        json={"title": "Gait review", "discipline": "physical_therapist", "assignee_id": who["physio"]},
        headers=h,
    )
    before = len(await _user_events(db))
    await _patch(client, h, r.json(), assignee_id=None)
    assert [(user, kind) for user, kind, _ in (await _user_events(db))[before:]] == [
        (who["physio"], "work.changed")  # the old assignee, who is also the pool (the team's one physio)
    ]
    async with db() as s:
        assert len(list(await s.exec(select(Notification)))) == 1  # only the first assignment


async def test_a_card_moved_within_its_column_tells_nobody_but_a_column_move_does(
    client: Any, db: Any, login: Any
) -> None:
    b = await make_board(db)
    who = await _ids(db, b)
    h = await login(b.lead)
    r = await client.post(
        f"/api/v1/plans/{b.plan_id}/tasks",
        json={"title": "UDS due", "discipline": "nurse", "assignee_id": who["nurse"]},
        headers=h,
    )
    before = await _user_events(db)
    task = await _patch(client, h, r.json(), position=5.0)
    assert await _user_events(db) == before
    await _patch(client, h, task, status="in-progress", position=6.0)
    assert (await _user_events(db))[len(before) :] == [
        (who["nurse"], "work.changed", {"plan_id": b.plan_id, "reason": "task.moved"})
    ]
