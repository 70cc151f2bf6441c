"""Messages over the JSON API: who may read and write a thread, mentions, edits, removal, retries, paging."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from sqlalchemy import text

from careteam.messaging import service as messaging_service
from careteam.messaging.codes import MessageEvent
from careteam.notifications.codes import NotificationKind
from careteam.plans.board import apply_event
from tests.messaging.world import (
    audit_rows,
    make_task,
    make_world,
    messages,
    notified,
    plan_events,
    post,
    revisions,
    take_off_team,
    user_event_kinds,
)

DIARY = "@psychology sleep diary uploaded, **worse nights after PT days**"


def if_match(h: dict[str, str], version: int) -> dict[str, str]:
    return {**h, "If-Match": f'W/"{version}"'}


async def test_the_team_writes_in_the_plan_thread(client: Any, db: Any, login: Any) -> None:
    w = await make_world(db)
    path = f"/plans/{w.plan_id}"
    # Anonymous: 401, and nothing stored.
    assert (await post(client, {}, path, "hello")).status_code == 401
    # Another team's lead: the plan is not hers to see.
    outsider = await post(client, await login(w.names["outsider"]), path, "hello")
    assert outsider.status_code == 404 and outsider.headers["content-type"] == "application/problem+json"
    assert (
        await client.get(f"/api/v1{path}/messages", headers=await login(w.names["outsider"]))
    ).status_code == 404
    # Invalid input names the field.
    nurse = await login(w.names["nurse"])
    for body in ("", "   \n", "x" * 10_001):
        r = await post(client, nurse, path, body)
        assert r.status_code == 422, r.text
        assert any("body" in e["field"] for e in r.json()["errors"]), r.json()
    extra = await client.post(f"/api/v1{path}/messages", json={"body": "hi", "urgent": True}, headers=nurse)
    assert extra.status_code == 422 and any("urgent" in e["field"] for e in extra.json()["errors"])
    assert await messages(db) == [] and await plan_events(db, w.plan_id) == []
    # Valid.
    r = await post(client, nurse, path, "Block done, **70% relief** at 30 min")
    assert r.status_code == 201, r.text
    m = r.json()
    assert r.headers["Location"] == f"/api/v1/messages/{m['id']}" and r.headers["ETag"] == 'W/"1"'
    assert m["plan_id"] == w.plan_id and m["task_id"] is None and m["version"] == 1
    assert m["body"] == "Block done, **70% relief** at 30 min"
    assert m["html"] == "<p>Block done, <strong>70% relief</strong> at 30 min</p>\n"
    assert m["author"]["id"] == w.id("nurse") and m["author"]["display_name"].startswith("Test nurse")
    assert m["mentions"] == [] and m["deleted"] is False and m["edited_at"] is None
    events = await plan_events(db, w.plan_id)
    assert [(e.kind, e.data["id"]) for e in events] == [(MessageEvent.created, m["id"])]
    creates = await audit_rows(db, action="create", resource_type="message")
    assert [(a.resource_id, a.patient_id) for a in creates] == [(str(m["id"]), w.patient_id)]


async def test_markup_and_scripts_are_shown_as_text_and_links_are_safe(
    client: Any, db: Any, login: Any
) -> None:
    w = await make_world(db)
    nurse = await login(w.names["nurse"])
    body = (
        "<script>alert(1)</script>\n\n<img src=x onerror=alert(2)>\n\n[x](javascript:alert(3)) "
        "[site](https://example.org) *done*"
    )
    m = (await post(client, nurse, f"/plans/{w.plan_id}", body)).json()
    assert "<script" not in m["html"] and "<img" not in m["html"] and 'href="javascript' not in m["html"]
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in m["html"]
    assert '<a href="https://example.org" rel="noopener noreferrer">site</a>' in m["html"]
    assert "<em>done</em>" in m["html"] and m["body"] == body


async def test_mentions_reach_only_the_care_team(client: Any, db: Any, login: Any) -> None:
    w = await make_world(db)
    lead = await login(w.names["lead"])
    path = f"/plans/{w.plan_id}"
    # psy1 exists but is off the team; "nobody-here" does not exist: the answers cannot tell them apart.
    off = (
        await post(client, lead, path, f"@{w.names['nurse']} UDS due; @{w.names['psy1']} please see")
    ).json()
    ghost = (await post(client, lead, path, f"@{w.names['nurse']} UDS due; @nobody-here please see")).json()
    assert off["mentions"] == ghost["mentions"] == [w.id("nurse")]
    assert f"@{w.names['psy1']} please see" in off["html"]
    assert await notified(db, w.id("psy1")) == [] and await user_event_kinds(db, w.id("psy1")) == []
    told = await notified(db, w.id("nurse"))
    assert [(n.kind, n.link) for n in told] == [
        (NotificationKind.message_mention, f"/plans/{w.plan_id}#message-{off['id']}"),
        (NotificationKind.message_mention, f"/plans/{w.plan_id}#message-{ghost['id']}"),
    ]
    assert told[0].patient_id == w.patient_id and told[0].body.startswith("@")
    # For each message: the badge's hint first (every team member's stream, in one pass), then her "My work",
    # then her inbox (lock order: the hints, work_changed, then notify).
    expected = ["messages.unread", "work.changed", "notification.created"] * 2
    assert await user_event_kinds(db, w.id("nurse")) == expected
    # A discipline on the team, and @team: never the author; @psychology reaches nobody (none on the team).
    team = (await post(client, lead, path, "@team conference Thursday: decide on RFA. @psychology?")).json()
    assert team["mentions"] == sorted([w.id("nurse"), w.id("physician")])
    nursing = (await post(client, await login(w.names["physician"]), path, "@nursing @LEAD see above")).json()
    assert nursing["mentions"] == sorted([w.id("nurse"), w.id("lead")])
    assert [n.kind for n in await notified(db, w.id("lead"))] == [NotificationKind.message_mention]
    # Code is quoted, not said: `@team` in backticks or an indented block reaches nobody.
    quoted = (await post(client, lead, path, "type `@team` to reach all\n\n    @nursing in a block")).json()
    assert quoted["mentions"] == [] and "<code>@team</code>" in quoted["html"]
    # An e-mail address is not a mention.
    mail = (await post(client, lead, path, f"write to x@{w.names['nurse']}.org")).json()
    assert mail["mentions"] == []


async def test_task_comments_reach_assignee_and_earlier_commenters(client: Any, db: Any, login: Any) -> None:
    w = await make_world(db)
    lead = await login(w.names["lead"])
    task = await make_task(client, lead, w, assignee_id=w.id("nurse"))
    path = f"/tasks/{task['id']}"
    physician = await login(w.names["physician"])
    first = await post(client, physician, path, "UDS unexpected result: discuss before next prescription")
    assert first.status_code == 201 and first.json()["task_id"] == task["id"]
    nurse_told = await notified(db, w.id("nurse"))
    assert [(n.kind, n.link, n.task_id) for n in nurse_told] == [
        (NotificationKind.message_reply, f"/plans/{w.plan_id}#task-{task['id']}", task["id"])
    ]
    # The assignee answers: the earlier commenter hears of it, she does not; the lead @mentioned gets a
    # mention, not a reply as well.
    nurse = await login(w.names["nurse"])
    assert (await post(client, nurse, path, "Called the patient. @lead FYI")).status_code == 201
    assert [n.kind for n in await notified(db, w.id("physician"))] == [NotificationKind.message_reply]
    assert len(await notified(db, w.id("nurse"))) == 1
    assert [n.kind for n in await notified(db, w.id("lead"))] == [NotificationKind.message_mention]
    # The lead writes to @nursing: the assignee, mentioned, gets the mention alone; the others a reply.
    assert (await post(client, lead, path, "@nursing book the repeat UDS")).status_code == 201
    assert [n.kind for n in (await notified(db, w.id("nurse")))[1:]] == [NotificationKind.message_mention]
    assert [n.kind for n in await notified(db, w.id("physician"))] == [NotificationKind.message_reply] * 2
    # The task itself did not change; the plan's team thread does not show task comments.
    fetched = (await client.get(f"/api/v1/tasks/{task['id']}", headers=lead)).json()
    assert fetched["version"] == task["version"]
    assert (await client.get(f"/api/v1/plans/{w.plan_id}/messages", headers=lead)).json()["items"] == []
    thread = (await client.get(f"/api/v1{path}/messages", headers=lead)).json()
    assert [m["author"]["id"] for m in thread["items"]] == [w.id("lead"), w.id("nurse"), w.id("physician")]
    # Another team's task: not found.
    other = await make_task(client, await login(w.names["outsider"]), _OtherPlan(w.other_plan_id))
    assert (await post(client, lead, f"/tasks/{other['id']}", "hi")).status_code == 404
    assert (await client.get(f"/api/v1/tasks/{other['id']}/messages", headers=lead)).status_code == 404


class _OtherPlan:
    def __init__(self, plan_id: int) -> None:
        self.plan_id = plan_id


async def test_only_the_author_edits_and_a_stale_version_is_refused(client: Any, db: Any, login: Any) -> None:
    w = await make_world(db)
    nurse = await login(w.names["nurse"])
    m = (await post(client, nurse, f"/plans/{w.plan_id}", "PDMP check done")).json()
    url = f"/api/v1/messages/{m['id']}"
    change = {"body": "PDMP check done, no other prescribers"}
    assert (await client.patch(url, json=change, headers={"If-Match": 'W/"1"'})).status_code == 401
    outsider = await client.patch(url, json=change, headers=if_match(await login(w.names["outsider"]), 1))
    assert outsider.status_code == 404
    lead = await client.patch(url, json=change, headers=if_match(await login(w.names["lead"]), 1))
    assert lead.status_code == 403
    assert (await client.patch(url, json=change, headers=nurse)).status_code == 428
    blank = await client.patch(url, json={"body": " "}, headers=if_match(nurse, 1))
    assert blank.status_code == 422 and blank.json()["errors"][0]["field"].endswith("body")
    edited = await client.patch(url, json=change, headers=if_match(nurse, 1))
    assert edited.status_code == 200, edited.text
    assert edited.headers["ETag"] == 'W/"2"'
    e = edited.json()
    assert e["version"] == 2 and e["edited_at"] is not None and e["body"] == change["body"]
    assert [(r.version, r.body, r.editor_id) for r in await revisions(db, m["id"])] == [
        (1, "PDMP check done", w.id("nurse"))
    ]
    stale = await client.patch(url, json={"body": "again"}, headers=if_match(nurse, 1))
    assert stale.status_code == 412
    assert stale.json()["current"]["body"] == change["body"] and stale.json()["current"]["version"] == 2
    # An edit that newly @mentions someone tells her; one already mentioned is not told twice.
    again = await client.patch(
        url, json={"body": f"@{w.names['physician']} PDMP done"}, headers=if_match(nurse, 2)
    )
    assert again.json()["mentions"] == [w.id("physician")]
    await client.patch(url, json={"body": f"@{w.names['physician']} PDMP done."}, headers=if_match(nurse, 3))
    assert [n.kind for n in await notified(db, w.id("physician"))] == [NotificationKind.message_mention]


async def test_the_author_or_the_lead_removes_a_message(client: Any, db: Any, login: Any) -> None:
    w = await make_world(db)
    physician = await login(w.names["physician"])
    m = (await post(client, physician, f"/plans/{w.plan_id}", "Hold apixaban from Monday")).json()
    url = f"/api/v1/messages/{m['id']}"
    nurse = await login(w.names["nurse"])
    assert (await client.delete(url, headers=if_match(nurse, 1))).status_code == 403
    assert (
        await client.delete(url, headers=if_match(await login(w.names["outsider"]), 1))
    ).status_code == 404
    lead = await login(w.names["lead"])
    assert (await client.delete(url, headers=if_match(lead, 7))).status_code == 412
    removed = await client.delete(url, headers=if_match(lead, 1))
    assert removed.status_code == 200, removed.text
    r = removed.json()
    assert r["deleted"] is True and r["body"] == "" and r["html"] == "" and r["version"] == 2
    listed = (await client.get(f"/api/v1/plans/{w.plan_id}/messages", headers=nurse)).json()["items"]
    assert [(i["id"], i["deleted"], i["body"]) for i in listed] == [(m["id"], True, "")]
    deletes = await audit_rows(db, action="delete", resource_type="message")
    assert [(a.user_id, a.patient_id) for a in deletes] == [(w.id("lead"), w.patient_id)]
    # Removed is final: no edit, no second removal.
    assert (await client.patch(url, json={"body": "x"}, headers=if_match(physician, 2))).status_code == 409
    assert (await client.delete(url, headers=if_match(physician, 2))).status_code == 409
    # The author removes her own.
    own = (await post(client, nurse, f"/plans/{w.plan_id}", "typo")).json()
    assert (
        await client.delete(f"/api/v1/messages/{own['id']}", headers=if_match(nurse, 1))
    ).status_code == 200


async def test_a_clinician_taken_off_the_team_reads_and_writes_nothing(
    client: Any, db: Any, login: Any
) -> None:
    w = await make_world(db)
    lead = await login(w.names["lead"])
    task = await make_task(client, lead, w)
    nurse = await login(w.names["nurse"])
    mine = (await post(client, nurse, f"/plans/{w.plan_id}", "before")).json()
    key = {"Idempotency-Key": "retry-after-removal"}
    assert (await post(client, nurse, f"/tasks/{task['id']}", "first", **key)).status_code == 201
    await take_off_team(client, lead, w, "nurse")
    for path in (f"/plans/{w.plan_id}", f"/tasks/{task['id']}"):
        assert (await client.get(f"/api/v1{path}/messages", headers=nurse)).status_code == 404
        assert (await post(client, nurse, path, "after")).status_code == 404
    # A retry of her earlier post does not hand her the stored answer either.
    assert (await post(client, nurse, f"/tasks/{task['id']}", "first", **key)).status_code == 404
    edit = await client.patch(
        f"/api/v1/messages/{mine['id']}", json={"body": "x"}, headers=if_match(nurse, 1)
    )
    assert edit.status_code == 404
    # An earlier commenter off the team now hears nothing of the thread, named or not.
    said = f"@{w.names['nurse']} @nursing @team follow-up booked"
    assert (await post(client, lead, f"/tasks/{task['id']}", said)).json()["mentions"] == [w.id("physician")]
    assert await notified(db, w.id("nurse")) == []


async def test_retries_with_one_key_store_one_message(client: Any, db: Any, login: Any) -> None:
    w = await make_world(db)
    nurse = await login(w.names["nurse"])
    path = f"/plans/{w.plan_id}"
    answers = [
        await post(client, nurse, path, "Naloxone offered", **{"Idempotency-Key": "k-1"}) for _ in range(10)
    ]
    assert {a.status_code for a in answers} == {201}
    assert len({a.json()["id"] for a in answers}) == 1
    assert [a.headers.get("Idempotent-Replayed") for a in answers] == [None] + ["true"] * 9
    assert len(await messages(db)) == 1 and len(await plan_events(db, w.plan_id)) == 1
    other = await post(client, nurse, path, "Something else", **{"Idempotency-Key": "k-1"})
    assert other.status_code == 422
    assert other.json()["errors"][0]["field"] == "header.Idempotency-Key"
    assert len(await messages(db)) == 1
    # The same key on a task's thread is another request: refused as well.
    task = await make_task(client, await login(w.names["lead"]), w)
    same_key = await post(
        client, nurse, f"/tasks/{task['id']}", "Naloxone offered", **{"Idempotency-Key": "k-1"}
    )
    assert same_key.status_code == 422


async def test_paging_is_stable_while_messages_arrive(client: Any, db: Any, login: Any) -> None:
    w = await make_world(db)
    nurse = await login(w.names["nurse"])
    path = f"/plans/{w.plan_id}"
    ids = [(await post(client, nurse, path, f"note {n}")).json()["id"] for n in range(5)]
    url = f"/api/v1{path}/messages"
    first = (await client.get(f"{url}?limit=2", headers=nurse)).json()
    assert [m["id"] for m in first["items"]] == [ids[4], ids[3]] and first["next_before"] == ids[3]
    assert first["next_after"] is None
    newer = [(await post(client, nurse, path, f"late {n}")).json()["id"] for n in range(2)]
    second = (await client.get(f"{url}?limit=2&before={first['next_before']}", headers=nurse)).json()
    assert [m["id"] for m in second["items"]] == [ids[2], ids[1]]
    third = (await client.get(f"{url}?limit=2&before={second['next_before']}", headers=nurse)).json()
    assert [m["id"] for m in third["items"]] == [ids[0]] and third["next_before"] is None
    # Forward from the newest seen: what arrived since, oldest first.
    since = (await client.get(f"{url}?limit=1&after={ids[4]}", headers=nurse)).json()
    assert [m["id"] for m in since["items"]] == [newer[0]] and since["next_after"] == newer[0]
    rest = (await client.get(f"{url}?after={since['next_after']}", headers=nurse)).json()
    assert [m["id"] for m in rest["items"]] == [newer[1]] and rest["next_after"] is None
    both = await client.get(f"{url}?before={ids[3]}&after={ids[1]}", headers=nurse)
    assert both.status_code == 422 and both.json()["errors"][0]["field"].endswith("after")
    bad = await client.get(f"{url}?before=0", headers=nurse)
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"].endswith("before")


async def test_a_thread_read_is_one_audited_read(client: Any, db: Any, login: Any) -> None:
    w = await make_world(db)
    nurse = await login(w.names["nurse"])
    task = await make_task(client, await login(w.names["lead"]), w)
    for n in range(3):
        await post(client, nurse, f"/plans/{w.plan_id}", f"note {n}")
    before = len(await audit_rows(db, action="read"))
    assert (await client.get(f"/api/v1/plans/{w.plan_id}/messages", headers=nurse)).status_code == 200
    assert (await client.get(f"/api/v1/tasks/{task['id']}/messages", headers=nurse)).status_code == 200
    reads = (await audit_rows(db, action="read"))[before:]
    assert [(r.resource_type, r.patient_id, r.user_id) for r in reads] == [
        ("care_plan", w.patient_id, w.id("nurse")),
        ("task", w.patient_id, w.id("nurse")),
    ]


async def test_each_write_puts_its_event_on_the_plan_stream_in_order(
    client: Any, db: Any, login: Any
) -> None:
    w = await make_world(db)
    lead = await login(w.names["lead"])
    board = (await client.get(f"/api/v1/plans/{w.plan_id}", headers=lead)).json()
    task = await make_task(client, lead, w)
    m = (await post(client, lead, f"/plans/{w.plan_id}", "first")).json()
    c = (await post(client, lead, f"/tasks/{task['id']}", "comment")).json()
    await client.patch(f"/api/v1/messages/{m['id']}", json={"body": "first!"}, headers=if_match(lead, 1))
    await client.delete(f"/api/v1/messages/{c['id']}", headers=if_match(lead, 1))
    events = await plan_events(db, w.plan_id)
    assert [(e.kind, e.data.get("id"), e.data.get("task_id")) for e in events] == [
        ("task.created", task["id"], None),
        (MessageEvent.created, m["id"], None),
        (MessageEvent.created, c["id"], task["id"]),
        (MessageEvent.edited, m["id"], None),
        (MessageEvent.deleted, c["id"], task["id"]),
    ]
    assert events[3].data["body"] == "first!" and events[4].data["deleted"] is True
    assert [e.seq for e in events] == list(range(events[0].seq, events[0].seq + 5))
    # The board applies message events as nothing but a newer seq: replay equals the board read after.
    for e in events:
        board = apply_event(board, {"seq": e.seq, "kind": e.kind, "data": e.data})
    after = (await client.get(f"/api/v1/plans/{w.plan_id}", headers=lead)).json()
    assert board == after


async def test_concurrent_retries_with_one_key_store_one_message(client: Any, db: Any, login: Any) -> None:
    w = await make_world(db)
    nurse = await login(w.names["nurse"])
    key = {"Idempotency-Key": "double-click"}
    answers = await asyncio.gather(
        *(post(client, nurse, f"/plans/{w.plan_id}", "Follow-up call after block", **key) for _ in range(10))
    )
    # Each retry waits for the one running with its key and replays its answer: the same on both backends.
    assert [a.status_code for a in answers] == [201] * 10, [a.text for a in answers]
    assert len({a.json()["id"] for a in answers}) == 1
    assert sorted(a.headers.get("Idempotent-Replayed", "") for a in answers) == [""] + ["true"] * 9
    assert len(await messages(db)) == 1 and len(await plan_events(db, w.plan_id)) == 1


async def test_a_retry_while_the_first_is_still_running_waits_and_replays_it(
    monkeypatch: pytest.MonkeyPatch, backend: str, client: Any, db: Any, login: Any
) -> None:
    """The first request is held inside its transaction, its message written and not committed, until the
    retry is waiting for it (on PostgreSQL: for the key's lock; SQLite runs one writer at a time anyway)."""
    w = await make_world(db)
    nurse = await login(w.names["nurse"])
    reached, release = asyncio.Event(), asyncio.Event()
    original = messaging_service.post_plan_message

    async def held(*args: Any, **kwargs: Any) -> Any:
        message = await original(*args, **kwargs)
        if not reached.is_set():
            reached.set()
            await release.wait()
        return message

    monkeypatch.setattr(messaging_service, "post_plan_message", held)
    key = {"Idempotency-Key": "slow-network"}
    first = asyncio.create_task(post(client, nurse, f"/plans/{w.plan_id}", "Follow-up call", **key))
    await asyncio.wait_for(reached.wait(), 10)
    retry = asyncio.create_task(post(client, nurse, f"/plans/{w.plan_id}", "Follow-up call", **key))
    if backend == "postgres":
        deadline = time.monotonic() + 10
        while not await _waiting_for_an_advisory_lock(db):
            assert time.monotonic() < deadline, "the retry never waited for the key's lock"
            await asyncio.sleep(0.01)
    release.set()
    answers = [await first, await retry]
    assert [a.status_code for a in answers] == [201, 201], [a.text for a in answers]
    assert answers[0].json() == answers[1].json()
    assert answers[1].headers["Idempotent-Replayed"] == "true"
    assert len(await messages(db)) == 1


async def _waiting_for_an_advisory_lock(db: Any) -> bool:
    """Whether a transaction of this database waits for an advisory lock (the key's) right now."""
    async with db() as s:
        waiting = await s.exec(
            text(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted AND database = "
                "(SELECT oid FROM pg_database WHERE datname = current_database())"
            )
        )
        return int(waiting.one()[0]) > 0


async def test_one_message_by_id_is_an_audited_read_for_the_team_only(
    client: Any, db: Any, login: Any
) -> None:
    """``GET /messages/{id}`` says which thread a message is in (a card's "From a message" link needs it)."""
    w = await make_world(db)
    lead = await login(w.names["lead"])
    task = await make_task(client, lead, w)
    nurse = await login(w.names["nurse"])
    comment = (await post(client, nurse, f"/tasks/{task['id']}", "UDS booked for Friday")).json()
    before = len(await audit_rows(db, action="read", resource_type="message"))

    r = await client.get(f"/api/v1/messages/{comment['id']}", headers=lead)

    assert r.status_code == 200, r.text
    assert r.headers["etag"] == 'W/"1"'
    assert (r.json()["task_id"], r.json()["plan_id"], r.json()["body"]) == (
        task["id"],
        w.plan_id,
        "UDS booked for Friday",
    )
    reads = (await audit_rows(db, action="read", resource_type="message"))[before:]
    assert [(x.resource_id, x.patient_id, x.user_id) for x in reads] == [
        (str(comment["id"]), w.patient_id, w.id("lead"))
    ]
    # Removed: still found (its thread), without its text; off the team: not found, as a message that
    # does not exist.
    assert (
        await client.delete(f"/api/v1/messages/{comment['id']}", headers=if_match(nurse, 1))
    ).status_code == 200
    removed = (await client.get(f"/api/v1/messages/{comment['id']}", headers=lead)).json()
    assert (removed["deleted"], removed["body"], removed["task_id"]) == (True, "", task["id"])
    await take_off_team(client, lead, w, "nurse")
    assert (await client.get(f"/api/v1/messages/{comment['id']}", headers=nurse)).status_code == 404
    assert (await client.get("/api/v1/messages/999999", headers=lead)).status_code == 404
