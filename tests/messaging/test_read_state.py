"""Read state over the JSON API: marking threads read, unread counts, "seen by", and their events."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

from sqlmodel import col, select

from careteam.core.vocab import Discipline
from careteam.events import streams
from careteam.events.tables import StreamEvent
from careteam.messaging.codes import ReadEvent
from careteam.messaging.tables import Message, MessageRead
from careteam.patients.codes import TeamRole
from careteam.plans.board import apply_event
from tests.factories import make_patient, make_plan, make_user
from tests.messaging.world import make_task, make_world, plan_events, post, take_off_team


async def read(client: Any, h: dict[str, str], path: str, body: Any = None) -> Any:
    return await client.post(f"/api/v1{path}/messages/read", json=body, headers=h)


async def unread(client: Any, h: dict[str, str]) -> dict[str, Any]:
    r = await client.get("/api/v1/me/unread", headers=h)
    assert r.status_code == 200, r.text
    return dict(r.json())


async def user_events(db: Any, user_id: int, kind: str) -> list[StreamEvent]:
    async with db() as s:
        query = (
            select(StreamEvent)
            .where(
                StreamEvent.stream_kind == streams.USER,
                StreamEvent.stream_id == user_id,
                StreamEvent.kind == kind,
            )
            .order_by(col(StreamEvent.seq))
        )
        return list(await s.exec(query))


async def seen_events(db: Any, plan_id: int) -> list[dict[str, Any]]:
    return [e.data for e in await plan_events(db, plan_id) if e.kind == ReadEvent.seen]


async def test_marking_the_plan_thread_read(client: Any, db: Any, login: Any) -> None:
    w = await make_world(db)
    path = f"/plans/{w.plan_id}"
    nurse, physician = await login(w.names["nurse"]), await login(w.names["physician"])
    lead = await login(w.names["lead"])
    m1 = (await post(client, nurse, path, "Block done")).json()
    m2 = (await post(client, nurse, path, "70% relief at 30 min")).json()
    m3 = (await post(client, physician, path, "Good, book the second block")).json()
    # Anonymous: 401; another team's lead: not found; nothing moves either way.
    assert (await read(client, {}, path)).status_code == 401
    outsider = await read(client, await login(w.names["outsider"]), path)
    assert outsider.status_code == 404 and outsider.headers["content-type"] == "application/problem+json"
    assert (await read(client, lead, f"/plans/{w.other_plan_id}")).status_code == 404
    # Invalid input names the field.
    for body, field in (
        ({"up_to": 0}, "up_to"),
        ({"up_to": 2**31}, "up_to"),
        ({"up_to": "newest"}, "up_to"),
        ({"up_to": 1, "everything": True}, "everything"),
    ):
        r = await read(client, lead, path, body)
        assert r.status_code == 422, r.text
        assert any(field in e["field"] for e in r.json()["errors"]), r.json()
    assert await seen_events(db, w.plan_id) == []
    # Her own messages are never unread to her; the others' are.
    assert await unread(client, lead) == {"total": 3, "plans": {str(w.plan_id): 3}, "tasks": {}}
    assert await unread(client, nurse) == {"total": 1, "plans": {str(w.plan_id): 1}, "tasks": {}}
    # Valid: up to m2, then (no body) up to the newest.
    r = await read(client, lead, path, {"up_to": m2["id"]})
    assert r.status_code == 200, r.text
    assert r.json() == {
        "thread": f"plan:{w.plan_id}",
        "plan_id": w.plan_id,
        "task_id": None,
        "last_read_id": m2["id"],
        "thread_unread": 1,
        "total": 1,
    }
    r = await read(client, lead, path)
    assert (r.json()["last_read_id"], r.json()["thread_unread"], r.json()["total"]) == (m3["id"], 0, 0)
    assert await unread(client, lead) == {"total": 0, "plans": {}, "tasks": {}}
    # Others' counts did not move with hers.
    assert (await unread(client, nurse))["total"] == 1
    assert m1["id"] < m2["id"]


async def test_a_read_position_never_moves_back_nor_past_the_newest(client: Any, db: Any, login: Any) -> None:
    w = await make_world(db)
    path = f"/plans/{w.plan_id}"
    nurse, lead = await login(w.names["nurse"]), await login(w.names["lead"])
    ids = [(await post(client, nurse, path, f"note {n}")).json()["id"] for n in range(3)]
    assert (await read(client, lead, path, {"up_to": ids[2]})).json()["last_read_id"] == ids[2]
    back = await read(client, lead, path, {"up_to": ids[0]})
    assert back.status_code == 200 and back.json()["last_read_id"] == ids[2]
    # A new message, then an up_to far beyond it: the position stops at the newest, so the next one counts.
    ids.append((await post(client, nurse, path, "note 3")).json()["id"])
    beyond = await read(client, lead, path, {"up_to": 2**31 - 1})
    assert beyond.json()["last_read_id"] == ids[3] and beyond.json()["thread_unread"] == 0
    later = (await post(client, nurse, path, "note 4")).json()
    assert await unread(client, lead) == {"total": 1, "plans": {str(w.plan_id): 1}, "tasks": {}}
    # An empty thread: nothing to mark, position 0, no event.
    task = await make_task(client, lead, w)
    empty = await read(client, lead, f"/tasks/{task['id']}")
    assert empty.status_code == 200 and empty.json()["last_read_id"] == 0
    # Only real moves reached the plan's stream (and her own stream): ids[2], then ids[3].
    assert await seen_events(db, w.plan_id) == [
        {"user_id": w.id("lead"), "thread": f"plan:{w.plan_id}", "up_to": ids[2]},
        {"user_id": w.id("lead"), "thread": f"plan:{w.plan_id}", "up_to": ids[3]},
    ]
    mine = await user_events(db, w.id("lead"), ReadEvent.read)
    assert [(e.data["last_read_id"], e.data["thread_unread"], e.data["total"]) for e in mine] == [
        (ids[2], 0, 0),
        (ids[3], 0, 0),
    ]
    assert later["id"] > ids[3]
    # The inbox badge takes "unread" from any event on her stream as her notifications: not ours to set.
    assert all("unread" not in e.data for e in mine)
    # Nobody else's stream heard of her reading.
    assert await user_events(db, w.id("nurse"), ReadEvent.read) == []


async def test_task_threads_and_removed_messages(client: Any, db: Any, login: Any) -> None:
    w = await make_world(db)
    nurse, physician, lead = (
        await login(w.names["nurse"]),
        await login(w.names["physician"]),
        await login(w.names["lead"]),
    )
    task = await make_task(client, lead, w)
    tpath = f"/tasks/{task['id']}"
    await post(client, nurse, tpath, "UDS booked")
    gone = (await post(client, physician, tpath, "wrong patient, sorry")).json()
    await post(client, physician, f"/plans/{w.plan_id}", "Conference Thursday")
    want = {"total": 3, "plans": {str(w.plan_id): 3}, "tasks": {str(task["id"]): 2}}
    assert await unread(client, lead) == want
    # A removed message no longer counts.
    r = await client.delete(f"/api/v1/messages/{gone['id']}", headers={**physician, "If-Match": 'W/"1"'})
    assert r.status_code == 200, r.text
    assert await unread(client, lead) == {
        "total": 2,
        "plans": {str(w.plan_id): 2},
        "tasks": {str(task["id"]): 1},
    }
    # Marking the task thread read leaves the plan's own thread unread.
    r = await read(client, lead, tpath, {})
    assert r.status_code == 200, r.text
    assert (r.json()["thread"], r.json()["task_id"], r.json()["thread_unread"], r.json()["total"]) == (
        f"task:{task['id']}",
        task["id"],
        0,
        1,
    )
    assert await unread(client, lead) == {"total": 1, "plans": {str(w.plan_id): 1}, "tasks": {}}
    # Another team's task: not found.
    assert (await read(client, await login(w.names["outsider"]), tpath)).status_code == 404
    assert (await read(client, lead, "/tasks/999999")).status_code == 404


async def test_read_all_and_the_event_for_her_other_tabs(client: Any, db: Any, login: Any) -> None:
    w = await make_world(db)
    nurse, lead = await login(w.names["nurse"]), await login(w.names["lead"])
    task = await make_task(client, lead, w)
    plan_msg = (await post(client, nurse, f"/plans/{w.plan_id}", "Block done")).json()
    task_msg = (await post(client, nurse, f"/tasks/{task['id']}", "UDS booked")).json()
    # Another team's thread never counts for her, and read-all does not touch it.
    outsider = await login(w.names["outsider"])
    other = (await post(client, outsider, f"/plans/{w.other_plan_id}", "Not yours")).json()
    assert (await client.post("/api/v1/me/messages/read-all")).status_code == 401
    assert (await unread(client, lead))["total"] == 2
    r = await client.post("/api/v1/me/messages/read-all", headers=lead)
    assert r.status_code == 200, r.text
    assert r.json() == {"total": 0, "plans": {}, "tasks": {}}
    events = await user_events(db, w.id("lead"), ReadEvent.read)
    assert [e.data for e in events] == [{"all": True, "total": 0, "plans": {}, "tasks": {}}]
    assert sorted((e["thread"], e["up_to"]) for e in await seen_events(db, w.plan_id)) == sorted(
        [(f"plan:{w.plan_id}", plan_msg["id"]), (f"task:{task['id']}", task_msg["id"])]
    )
    assert await seen_events(db, w.other_plan_id) == []
    async with db() as s:
        rows = list(await s.exec(select(MessageRead).where(MessageRead.user_id == w.id("lead"))))
    assert all(row.plan_id == w.plan_id for row in rows) and len(rows) == 2
    # Again: nothing moves, no event anywhere.
    assert (await client.post("/api/v1/me/messages/read-all", headers=lead)).json()["total"] == 0
    assert len(await user_events(db, w.id("lead"), ReadEvent.read)) == 1
    assert len(await seen_events(db, w.plan_id)) == 2
    assert (await unread(client, outsider))["total"] == 0 and other["id"] > 0


async def test_seen_by_lists_the_team_that_read_at_or_past_it(client: Any, db: Any, login: Any) -> None:
    w = await make_world(db)
    path = f"/plans/{w.plan_id}"
    nurse, physician, lead = (
        await login(w.names["nurse"]),
        await login(w.names["physician"]),
        await login(w.names["lead"]),
    )
    m1 = (await post(client, nurse, path, "Block done")).json()
    m2 = (await post(client, nurse, path, "70% relief")).json()
    url1, url2 = f"/api/v1/messages/{m1['id']}/seen", f"/api/v1/messages/{m2['id']}/seen"
    assert (await client.get(url1)).status_code == 401
    assert (await client.get(url1, headers=await login(w.names["outsider"]))).status_code == 404
    assert (await client.get("/api/v1/messages/999999/seen", headers=lead)).status_code == 404
    assert (await client.get("/api/v1/messages/0/seen", headers=lead)).status_code == 422
    assert (await client.get(url1, headers=lead)).json() == {"message_id": m1["id"], "items": []}
    await read(client, lead, path, {"up_to": m1["id"]})
    await read(client, physician, path)
    seen1 = (await client.get(url1, headers=nurse)).json()["items"]
    assert [(s["user_id"], s["last_read_id"]) for s in seen1] == [
        (w.id("lead"), m1["id"]),
        (w.id("physician"), m2["id"]),
    ]
    assert seen1[0]["display_name"].startswith("Test ipm") and seen1[0]["read_at"]
    seen2 = (await client.get(url2, headers=nurse)).json()["items"]
    assert [s["user_id"] for s in seen2] == [w.id("physician")]
    # The physician taken off the team: she no longer shows, she reads nothing, her old row counts nowhere.
    await take_off_team(client, lead, w, "physician")
    assert [s["user_id"] for s in (await client.get(url1, headers=nurse)).json()["items"]] == [w.id("lead")]
    assert (await client.get(url1, headers=physician)).status_code == 404
    assert (await read(client, physician, path)).status_code == 404
    assert await unread(client, physician) == {"total": 0, "plans": {}, "tasks": {}}
    r = await client.post("/api/v1/me/messages/read-all", headers=physician)
    assert r.status_code == 200 and r.json()["total"] == 0


async def test_seen_events_replay_onto_the_board(client: Any, db: Any, login: Any) -> None:
    w = await make_world(db)
    nurse, lead = await login(w.names["nurse"]), await login(w.names["lead"])
    await post(client, nurse, f"/plans/{w.plan_id}", "Block done")
    before = (await client.get(f"/api/v1/plans/{w.plan_id}", headers=lead)).json()
    assert (await read(client, lead, f"/plans/{w.plan_id}")).status_code == 200
    after = (await client.get(f"/api/v1/plans/{w.plan_id}", headers=lead)).json()
    r = await client.get(
        f"/api/v1/plans/{w.plan_id}/events", params={"after": before["last_seq"]}, headers=lead
    )
    items = r.json()["items"]
    assert [e["kind"] for e in items] == [ReadEvent.seen]
    board = before
    for event in items:
        board = apply_event(board, event)
    assert board == after


# --- Exact under concurrency ---------------------------------------------------------------------

WRITERS = 5
# The figure: 5 writers x 100 messages each (500 messages; about 8 s on PostgreSQL, 6 s on SQLite).
PER_WRITER = 100


async def test_counts_are_exact_with_concurrent_writers_and_readers(client: Any, db: Any, login: Any) -> None:
    """Five clinicians each write 100 messages (the plan's thread and a task's, alternately) while marking
    threads read now and then; afterwards each one's count is the others' messages after her positions."""
    async with db() as s:
        users = [await make_user(s, discipline=Discipline.nurse) for _ in range(WRITERS)]
        patient = await make_patient(s, members=[(u, TeamRole.member) for u in users])
        plan = await make_plan(s, patient)
        plan_id, ids = plan.id or 0, [u.id or 0 for u in users]
        names = [u.username for u in users]
    headers = [await login(n) for n in names]
    task = await make_task(client, headers[0], _Plan(plan_id))
    paths = [f"/plans/{plan_id}", f"/tasks/{task['id']}"]
    answers: list[list[dict[str, Any]]] = [[] for _ in users]

    async def write(n: int) -> None:
        for i in range(PER_WRITER):
            r = await post(client, headers[n], paths[i % 2], f"writer {n} note {i}")
            assert r.status_code == 201, r.text
            if i % 7 == n % 7:
                marked = await read(client, headers[n], paths[(i + n) % 2])
                assert marked.status_code == 200, marked.text
                answers[n].append(marked.json())

    await asyncio.gather(*(write(n) for n in range(WRITERS)))
    # A last word each once all are done: whatever the interleaving (a writer that finished last may have
    # read everything), every count then holds the others' last words after her positions.
    for n in range(WRITERS):
        r = await post(client, headers[n], paths[n % 2], f"writer {n} last word")
        assert r.status_code == 201, r.text

    async with db() as s:
        stored = list(await s.exec(select(Message).where(Message.plan_id == plan_id)))
        positions = {(r.user_id, r.thread): r.last_read_id for r in await s.exec(select(MessageRead))}
    assert len(stored) == WRITERS * (PER_WRITER + 1)
    for n, user_id in enumerate(ids):
        per_thread: Counter[str] = Counter()
        for m in stored:
            thread = f"task:{m.task_id}" if m.task_id else f"plan:{plan_id}"
            if m.author_id != user_id and m.id and m.id > positions.get((user_id, thread), 0):
                per_thread[thread] += 1
        expected = sum(per_thread.values())
        assert expected >= WRITERS - 1  # at least the others' last words
        tasks = (
            {str(task["id"]): per_thread[f"task:{task['id']}"]} if per_thread[f"task:{task['id']}"] else {}
        )
        assert await unread(client, headers[n]) == {
            "total": expected,
            "plans": {str(plan_id): expected},
            "tasks": tasks,
        }
        # Her positions never went back, and each move (only a move) reached the plan's stream once.
        moves = 0
        last: dict[str, int] = {}
        for a in answers[n]:
            assert a["last_read_id"] >= last.get(a["thread"], 0)
            moves += a["last_read_id"] > last.get(a["thread"], 0)
            last[a["thread"]] = a["last_read_id"]
        assert last == {t: p for (u, t), p in positions.items() if u == user_id}
        seen = [e for e in await seen_events(db, plan_id) if e["user_id"] == user_id]
        assert len(seen) == moves


class _Plan:
    def __init__(self, plan_id: int) -> None:
        self.plan_id = plan_id
