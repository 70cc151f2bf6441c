"""Conversations over HTTP: starting one, who may read it, paging, edits, read positions and unread counts,
idempotent retries, audit rows, and the hints on the user streams (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlmodel import col, select

from careteam.audit.tables import AuditEntry
from careteam.conversations.tables import (
    Conversation,
    ConversationMember,
    ConversationMessage,
    ConversationMessageRevision,
)
from careteam.events import streams
from careteam.events.tables import StreamEvent
from tests.factories import make_user
from tests.messaging.world import World, make_world, post, take_off_team, user_event_kinds


async def start(
    client: Any,
    h: dict[str, str],
    participants: list[int],
    body: str = "Hello",
    *,
    headers: dict[str, str] | None = None,
    **fields: Any,
) -> Any:
    payload = {"participants": participants, "body": body, **fields}
    return await client.post("/api/v1/conversations", json=payload, headers={**h, **(headers or {})})


async def say(client: Any, h: dict[str, str], conversation_id: int, body: str, **headers: str) -> Any:
    return await client.post(
        f"/api/v1/conversations/{conversation_id}/messages", json={"body": body}, headers={**h, **headers}
    )


async def stored_messages(db: Any) -> list[ConversationMessage]:
    async with db() as s:
        return list(await s.exec(select(ConversationMessage).order_by(col(ConversationMessage.id))))


async def conversation_events(db: Any, conversation_id: int) -> list[StreamEvent]:
    async with db() as s:
        query = select(StreamEvent).where(
            StreamEvent.stream_kind == streams.CONVERSATION, StreamEvent.stream_id == conversation_id
        )
        return list(await s.exec(query.order_by(col(StreamEvent.seq))))


async def user_events(db: Any, user_id: int, kind: str) -> list[dict[str, Any]]:
    async with db() as s:
        query = select(StreamEvent).where(
            StreamEvent.stream_kind == streams.USER,
            StreamEvent.stream_id == user_id,
            StreamEvent.kind == kind,
        )
        return [e.data for e in await s.exec(query.order_by(col(StreamEvent.seq)))]


async def personas(login: Any, w: World, *names: str) -> list[dict[str, str]]:
    return [await login(w.names[n]) for n in names]


async def test_a_conversation_starts_with_its_first_message_and_reaches_the_others(
    client: Any, db: Any, login: Any
) -> None:
    w = await make_world(db)
    nurse, psy = await personas(login, w, "nurse", "psy1")
    r = await start(
        client, nurse, [w.id("psy1"), w.id("nurse")], "Who covers the **PDMP checks**?", subject="Cover"
    )
    assert r.status_code == 201, r.text
    c = r.json()
    assert r.headers["Location"] == f"/api/v1/conversations/{c['id']}"
    assert c["subject"] == "Cover" and c["patient"] is None
    assert [p["id"] for p in c["participants"]] == sorted([w.id("nurse"), w.id("psy1")])
    assert c["last_message"]["html"] == "<p>Who covers the <strong>PDMP checks</strong>?</p>\n"
    assert c["unread_count"] == 0  # her own message
    # The other participant: in her list, one unread, a hint on her stream (no text), none on the author's.
    mine = (await client.get("/api/v1/conversations", headers=psy)).json()
    assert [(x["id"], x["unread_count"]) for x in mine["items"]] == [(c["id"], 1)]
    hint = {"conversation_id": c["id"], "message_id": c["last_message"]["id"]}
    assert await user_events(db, w.id("psy1"), "conversation.unread") == [hint]
    assert await user_events(db, w.id("nurse"), "conversation.unread") == []
    unread = (await client.get("/api/v1/me/messages/unread", headers=psy)).json()
    assert unread == {"total": 1, "threads": 0, "conversations": 1}
    kinds = [e.kind for e in await conversation_events(db, c["id"])]
    assert kinds == ["conversation.message.created"]


async def test_who_may_be_in_it(client: Any, db: Any, login: Any) -> None:
    w = await make_world(db)
    nurse, outsider = await personas(login, w, "nurse", "outsider")
    async with db() as s:
        gone = await make_user(s, "gone-clinician", active=False)

    async def field(r: Any) -> str:
        assert r.status_code == 422, r.text
        return str(r.json()["errors"][0]["field"])

    assert await field(await start(client, nurse, [w.id("nurse")])) == "body.participants"
    assert await field(await start(client, nurse, [gone.id or 0])) == "body.participants"
    assert await field(await start(client, nurse, [2**31 - 1])) == "body.participants"
    # About a patient: the author and everyone named on her care team.
    about = {"patient_id": w.patient_id}
    assert await field(await start(client, nurse, [w.id("psy1")], **about)) == "body.patient_id"
    assert await field(await start(client, outsider, [w.id("nurse")], **about)) == "body.patient_id"
    # A patient that does not exist reads the same as one on another team.
    assert (
        await field(await start(client, nurse, [w.id("physician")], patient_id=2**31 - 1))
        == "body.patient_id"
    )
    ok = await start(client, nurse, [w.id("physician")], "Block done, 70% relief at 30 min", **about)
    assert ok.status_code == 201, ok.text
    assert ok.json()["patient"] == {"id": w.patient_id, "name": "Ellen Marsh"}
    assert await stored_messages(db) and len(await stored_messages(db)) == 1


async def test_only_participants_read_it(client: Any, db: Any, login: Any) -> None:
    w = await make_world(db)
    nurse, lead = await personas(login, w, "nurse", "lead")
    c = (
        await start(client, nurse, [w.id("physician")], "Hold the home program", patient_id=w.patient_id)
    ).json()
    cid, mid = c["id"], c["last_message"]["id"]
    # The lead is on Ellen's team, but not in the conversation: it does not exist for her.
    for r in (
        await client.get(f"/api/v1/conversations/{cid}", headers=lead),
        await client.get(f"/api/v1/conversations/{cid}/messages", headers=lead),
        await say(client, lead, cid, "me too"),
        await client.post(f"/api/v1/conversations/{cid}/read", headers=lead),
        await client.patch(
            f"/api/v1/conversation-messages/{mid}", json={"body": "x"}, headers={**lead, "If-Match": 'W/"1"'}
        ),
    ):
        assert r.status_code == 404, r.text
        assert r.headers["content-type"] == "application/problem+json"
    assert (await client.get("/api/v1/conversations", headers=lead)).json()["items"] == []


async def test_a_participant_taken_off_the_team_no_longer_reads_it(client: Any, db: Any, login: Any) -> None:
    w = await make_world(db)
    nurse, physician, lead = await personas(login, w, "nurse", "physician", "lead")
    about = {"patient_id": w.patient_id, "headers": {"Idempotency-Key": "start-1"}}
    first = await start(client, nurse, [w.id("physician")], "UDS unexpected result", **about)
    cid = first.json()["id"]
    assert (await client.get(f"/api/v1/conversations/{cid}", headers=physician)).status_code == 200
    await take_off_team(client, lead, w, "physician")
    assert (await client.get(f"/api/v1/conversations/{cid}", headers=physician)).status_code == 404
    assert (await client.get("/api/v1/conversations", headers=physician)).json()["items"] == []
    assert (await client.get("/api/v1/me/messages/unread", headers=physician)).json()["conversations"] == 0
    # No more hints for her; the nurse still writes in it.
    before = await user_events(db, w.id("physician"), "conversation.unread")
    assert (await say(client, nurse, cid, "Discuss before next prescription")).status_code == 201
    assert await user_events(db, w.id("physician"), "conversation.unread") == before
    # The nurse taken off too: her retry of the start is not answered with the stored conversation.
    await take_off_team(client, lead, w, "nurse")
    retry = await start(client, nurse, [w.id("physician")], "UDS unexpected result", **about)
    assert retry.status_code == 404


async def test_ten_retries_store_one_message_and_another_body_is_refused(
    client: Any, db: Any, login: Any
) -> None:
    w = await make_world(db)
    (nurse,) = await personas(login, w, "nurse")
    cid = (await start(client, nurse, [w.id("psy1")])).json()["id"]
    answers = [
        await say(client, nurse, cid, "Naloxone offered", **{"Idempotency-Key": "k-1"}) for _ in range(10)
    ]
    assert {a.status_code for a in answers} == {201}
    assert len({a.json()["id"] for a in answers}) == 1
    assert [a.headers.get("Idempotent-Replayed") for a in answers] == [None] + ["true"] * 9
    assert len(await stored_messages(db)) == 2
    other = await say(client, nurse, cid, "Something else", **{"Idempotency-Key": "k-1"})
    assert other.status_code == 422
    assert other.json()["errors"][0]["field"] == "header.Idempotency-Key"
    assert len(await stored_messages(db)) == 2
    # Starting a conversation with a key: retried, still one conversation.
    key = {"headers": {"Idempotency-Key": "start-2"}}
    starts = [await start(client, nurse, [w.id("psy2")], "Sleep diary", **key) for _ in range(3)]
    assert len({a.json()["id"] for a in starts}) == 1 and len(await stored_messages(db)) == 3


async def test_unread_counts_are_exact(client: Any, db: Any, login: Any) -> None:
    w = await make_world(db)
    nurse, psy = await personas(login, w, "nurse", "psy1")
    cid = (await start(client, nurse, [w.id("psy1")], "one")).json()["id"]
    # Her own message is never unread to her, and writing one marks what came before it read.
    await say(client, psy, cid, "mine")
    ids = [(await say(client, nurse, cid, text)).json()["id"] for text in ("two", "three", "four")]

    async def count(h: dict[str, str]) -> int:
        return int((await client.get(f"/api/v1/conversations/{cid}", headers=h)).json()["unread_count"])

    assert await count(psy) == 3
    r = await client.post(f"/api/v1/conversations/{cid}/read", json={"up_to": ids[0]}, headers=psy)
    assert r.status_code == 200 and r.json() == {
        "conversation_id": cid,
        "last_read_id": ids[0],
        "conversations": 2,
    }
    # Never backwards; a mark that moves nothing records nothing.
    events_before = len(await conversation_events(db, cid))
    r = await client.post(f"/api/v1/conversations/{cid}/read", json={"up_to": ids[0] - 1}, headers=psy)
    assert r.json()["last_read_id"] == ids[0]
    assert len(await conversation_events(db, cid)) == events_before
    # A removed message no longer counts.
    gone = await client.delete(
        f"/api/v1/conversation-messages/{ids[2]}", headers={**nurse, "If-Match": 'W/"1"'}
    )
    assert gone.status_code == 200 and gone.json()["deleted"] and gone.json()["body"] == ""
    assert await count(psy) == 1
    seen = await client.post(f"/api/v1/conversations/{cid}/read", headers=psy)
    assert seen.json()["conversations"] == 0 and await count(psy) == 0
    data = (await conversation_events(db, cid))[-1]
    assert data.kind == "conversation.read" and data.data["user_id"] == w.id("psy1")
    # "Seen by": the nurse sees how far the psychologist read; her own stream says so too (no "unread" field).
    people = {
        p["id"]: p["last_read_id"]
        for p in (await client.get(f"/api/v1/conversations/{cid}", headers=nurse)).json()["participants"]
    }
    assert people[w.id("psy1")] == data.data["up_to"]
    mine = await user_events(db, w.id("psy1"), "conversation.read")
    assert mine and all("unread" not in d for d in mine)


async def test_read_all_marks_every_conversation(client: Any, db: Any, login: Any) -> None:
    w = await make_world(db)
    nurse, psy = await personas(login, w, "nurse", "psy1")
    for text in ("a", "b"):
        await start(client, nurse, [w.id("psy1")], text)
    assert (await client.get("/api/v1/me/messages/unread", headers=psy)).json()["conversations"] == 2
    r = await client.post("/api/v1/me/conversations/read-all", headers=psy)
    assert r.status_code == 200 and r.json() == {"total": 0, "threads": 0, "conversations": 0}
    assert await user_events(db, w.id("psy1"), "conversation.read") == [{"all": True}]


async def test_edits_are_kept_and_only_the_author_changes_a_message(client: Any, db: Any, login: Any) -> None:
    w = await make_world(db)
    nurse, psy = await personas(login, w, "nurse", "psy1")
    c = (await start(client, nurse, [w.id("psy1")], "CBT session 3")).json()
    mid = c["last_message"]["id"]
    path = f"/api/v1/conversation-messages/{mid}"
    assert (await client.patch(path, json={"body": "x"}, headers=nurse)).status_code == 428
    forbidden = await client.patch(path, json={"body": "x"}, headers={**psy, "If-Match": 'W/"1"'})
    assert forbidden.status_code == 403
    edited = await client.patch(
        path, json={"body": "CBT session *4*"}, headers={**nurse, "If-Match": 'W/"1"'}
    )
    assert edited.status_code == 200 and edited.headers["ETag"] == 'W/"2"'
    assert edited.json()["html"] == "<p>CBT session <em>4</em></p>\n" and edited.json()["edited_at"]
    stale = await client.patch(path, json={"body": "late"}, headers={**nurse, "If-Match": 'W/"1"'})
    assert stale.status_code == 412
    async with db() as s:
        kept = list(await s.exec(select(ConversationMessageRevision.body)))
    assert kept == ["CBT session 3"]
    removed = await client.delete(path, headers={**nurse, "If-Match": 'W/"2"'})
    assert removed.status_code == 200
    again = await client.patch(path, json={"body": "x"}, headers={**nurse, "If-Match": 'W/"3"'})
    assert again.status_code == 409
    kinds = [e.kind for e in await conversation_events(db, c["id"])]
    assert kinds[-2:] == ["conversation.message.edited", "conversation.message.deleted"]


async def test_pages_of_messages_and_conversations_use_stable_cursors(
    client: Any, db: Any, login: Any
) -> None:
    w = await make_world(db)
    (nurse,) = await personas(login, w, "nurse")
    cid = (await start(client, nurse, [w.id("psy1")], "m0")).json()["id"]
    for n in range(1, 5):
        await say(client, nurse, cid, f"m{n}")
    base = f"/api/v1/conversations/{cid}/messages"
    first = (await client.get(f"{base}?limit=2", headers=nurse)).json()
    assert [m["body"] for m in first["items"]] == ["m4", "m3"]
    await say(client, nurse, cid, "m5")  # arrives while she pages back
    second = (await client.get(f"{base}?limit=2&before={first['next_before']}", headers=nurse)).json()
    assert [m["body"] for m in second["items"]] == ["m2", "m1"]
    forward = (await client.get(f"{base}?limit=10&after={first['items'][0]['id']}", headers=nurse)).json()
    assert [m["body"] for m in forward["items"]] == ["m5"] and forward["next_after"] is None
    both = await client.get(f"{base}?before=3&after=1", headers=nurse)
    assert both.status_code == 422
    # Her conversations, latest activity first.
    other = (await start(client, nurse, [w.id("psy2")], "later")).json()["id"]
    listed = (await client.get("/api/v1/conversations?limit=1", headers=nurse)).json()
    assert [c["id"] for c in listed["items"]] == [other]
    rest = (
        await client.get(f"/api/v1/conversations?limit=1&before={listed['next_before']}", headers=nurse)
    ).json()
    assert [c["id"] for c in rest["items"]] == [cid] and rest["next_before"] is None


async def test_reads_are_audited_with_the_patient(client: Any, db: Any, login: Any) -> None:
    w = await make_world(db)
    nurse, physician = await personas(login, w, "nurse", "physician")
    cid = (await start(client, nurse, [w.id("physician")], "Block done", patient_id=w.patient_id)).json()[
        "id"
    ]
    direct = (await start(client, nurse, [w.id("psy1")], "Rota")).json()["id"]
    await client.get(f"/api/v1/conversations/{cid}/messages", headers=physician)
    await client.get("/api/v1/conversations", headers=nurse)
    async with db() as s:
        rows = list(
            await s.exec(
                select(AuditEntry)
                .where(AuditEntry.resource_type == "conversation")
                .order_by(col(AuditEntry.id))
            )
        )
    reads = [(r.user_id, r.resource_id, r.patient_id) for r in rows if r.action == "read"]
    assert (w.id("physician"), str(cid), w.patient_id) in reads
    assert (w.id("nurse"), str(cid), w.patient_id) in reads and (w.id("nurse"), str(direct), None) in reads
    created = [(r.resource_id, r.patient_id) for r in rows if r.action == "create"]
    assert created == [(str(cid), w.patient_id), (str(direct), None)]


async def test_a_plan_message_hints_every_other_team_member(client: Any, db: Any, login: Any) -> None:
    w = await make_world(db)
    nurse, lead = await personas(login, w, "nurse", "lead")
    r = await post(client, nurse, f"/plans/{w.plan_id}", "@psychology sleep diary uploaded")
    assert r.status_code == 201
    hint = {
        "plan_id": w.plan_id,
        "task_id": None,
        "message_id": r.json()["id"],
        "thread": f"plan:{w.plan_id}",
    }
    for who in ("lead", "physician"):
        assert await user_events(db, w.id(who), "messages.unread") == [hint]
    assert "messages.unread" not in await user_event_kinds(db, w.id("nurse"))
    unread = (await client.get("/api/v1/me/messages/unread", headers=lead)).json()
    assert unread == {"total": 1, "threads": 1, "conversations": 0}


WRITERS = 5
PER_WRITER = 20


async def test_counts_are_exact_with_concurrent_writers_and_readers(client: Any, db: Any, login: Any) -> None:
    """Five clinicians each write 20 messages in one conversation while marking it read now and then;
    afterwards each one's count is the others' messages after her position, and its latest activity is its
    newest message."""
    async with db() as s:
        users = [await make_user(s) for _ in range(WRITERS)]
    ids = [u.id or 0 for u in users]
    headers = [await login(u.username) for u in users]
    cid = (await start(client, headers[0], ids[1:], "Conference Thursday: decide on RFA")).json()["id"]

    async def write(n: int) -> None:
        for i in range(PER_WRITER):
            r = await say(client, headers[n], cid, f"writer {n} note {i}")
            assert r.status_code == 201, r.text
            if i % 7 == n % 7:
                other = (n + 1) % WRITERS
                marked = await client.post(f"/api/v1/conversations/{cid}/read", headers=headers[other])
                assert marked.status_code == 200, marked.text

    await asyncio.gather(*(write(n) for n in range(WRITERS)))
    stored = await stored_messages(db)
    assert len(stored) == WRITERS * PER_WRITER + 1
    async with db() as s:
        positions = {m.user_id: m.last_read_id for m in await s.exec(select(ConversationMember))}
        conversation = await s.get(Conversation, cid)
    assert conversation is not None and conversation.last_message_id == max(m.id or 0 for m in stored)
    for n, user_id in enumerate(ids):
        expected = sum(1 for m in stored if m.author_id != user_id and (m.id or 0) > positions[user_id])
        answer = (await client.get("/api/v1/me/messages/unread", headers=headers[n])).json()
        assert answer == {"total": expected, "threads": 0, "conversations": expected}
    # Each other participant got one hint per message of the others, in order.
    hints = await user_events(db, ids[1], "conversation.unread")
    theirs = [m.id for m in stored if m.author_id != ids[1]]
    assert [h["message_id"] for h in hints] == theirs
