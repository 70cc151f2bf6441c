"""The inbox's service: one notification per recipient, never to the actor, a dedup key honoured exactly once
(also by two transactions racing on PostgreSQL), unread counts, and every change on the user's own stream."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlmodel import col, select

from careteam.audit.tables import AuditEntry
from careteam.core.actor import Actor, actor_of
from careteam.events import streams
from careteam.events.tables import StreamEvent
from careteam.notifications import service as notifications
from careteam.notifications.codes import NotificationKind
from careteam.notifications.tables import Notification
from careteam.patients.codes import TeamRole
from tests.factories import make_patient, make_user


async def _people(db: Any, n: int = 3) -> tuple[list[Actor], int]:
    async with db() as s:
        users = [await make_user(s) for _ in range(n)]
        patient = await make_patient(s, members=[(u, TeamRole.member) for u in users], name="Ellen Marsh")
        return [actor_of(u) for u in users], patient.id or 0


async def _inbox_events(db: Any, user_id: int) -> list[StreamEvent]:
    stream = streams.user(user_id)
    async with db() as s:
        query = (
            select(StreamEvent)
            .where(StreamEvent.stream_kind == stream.kind, StreamEvent.stream_id == stream.id)
            .order_by(col(StreamEvent.seq))
        )
        return list(await s.exec(query))


async def _notify(db: Any, user_ids: list[int], actor: Actor | None, **kw: Any) -> list[Notification]:
    async with db() as s:
        return await notifications.notify(
            s,
            user_ids,
            NotificationKind.referral_new,
            title=kw.pop("title", "New referral"),
            actor=actor,
            **kw,
        )


async def test_one_notification_per_recipient_never_to_the_actor_nor_a_deactivated_account(db: Any) -> None:
    (lead, nurse, physio), patient_id = await _people(db)
    async with db() as s:
        gone = await make_user(s, active=False)
    made = await _notify(
        db,
        [nurse.user_id, nurse.user_id, physio.user_id, lead.user_id, gone.id or 0],
        lead,
        patient_id=patient_id,
        link="/referrals/3",
        referral_id=3,
    )
    assert sorted(n.user_id for n in made) == sorted([nurse.user_id, physio.user_id])
    async with db() as s:
        rows = list(await s.exec(select(Notification)))
        audited = list(await s.exec(select(AuditEntry).where(AuditEntry.resource_type == "notification")))
    assert len(rows) == 2
    assert {(a.action, a.patient_id, a.user_id) for a in audited} == {("create", patient_id, lead.user_id)}
    assert sorted(a.resource_id or "" for a in audited) == sorted(str(n.id) for n in rows)
    [event] = await _inbox_events(db, nurse.user_id)
    assert event.kind == "notification.created"
    assert event.data["title"] == "New referral" and event.data["link"] == "/referrals/3"
    assert (
        event.data["unread"] == 1
        and event.data["referral_id"] == 3
        and event.data["actor_id"] == lead.user_id
    )
    assert await _inbox_events(db, lead.user_id) == []


async def test_a_link_leads_within_the_site(db: Any) -> None:
    (lead, nurse, _), _ = await _people(db)
    for link in ("javascript:alert(1)", "https://example.com/", "//example.com/x", "/" + "x" * 300):
        with pytest.raises(ValueError, match="links within the site"):
            await _notify(db, [nurse.user_id], lead, link=link)
    async with db() as s:
        assert await notifications.unread_count(s, nurse.user_id) == 0


async def test_the_unread_count_in_each_event_and_long_text_cut_to_fit(db: Any) -> None:
    (lead, nurse, _), _ = await _people(db)
    await _notify(db, [nurse.user_id], lead, title="x" * 400, body="y" * 3000)
    await _notify(db, [nurse.user_id], None)  # a job: no actor
    events = await _inbox_events(db, nurse.user_id)
    assert [e.data["unread"] for e in events] == [1, 2]
    assert len(events[0].data["title"]) == 300 and len(events[0].data["body"]) == 2000
    assert events[1].data["actor_id"] is None
    async with db() as s:
        assert await notifications.unread_count(s, nurse.user_id) == 2
        assert await notifications.unread_count(s, lead.user_id) == 0


async def test_a_dedup_key_gives_each_recipient_one_notification_and_one_event(db: Any) -> None:
    (lead, nurse, physio), _ = await _people(db)
    first = await _notify(db, [nurse.user_id], lead, dedup_key="referral:3:overdue")
    again = await _notify(db, [nurse.user_id, physio.user_id], lead, dedup_key="referral:3:overdue")
    other = await _notify(db, [nurse.user_id], lead, dedup_key="referral:4:overdue")
    assert len(first) == 1 and [n.user_id for n in again] == [physio.user_id] and len(other) == 1
    assert [e.data["unread"] for e in await _inbox_events(db, nurse.user_id)] == [1, 2]
    async with db() as s:
        assert await notifications.unread_count(s, nurse.user_id) == 2


async def test_two_transactions_racing_with_one_dedup_key_make_one_notification(db: Any) -> None:
    """The second starts while the first holds its uncommitted row: on PostgreSQL its insert waits on the
    unique index and then fails inside its savepoint; on SQLite it waits for the write lock and then finds the
    key taken. Either way it stores nothing and says nothing, and its transaction commits."""
    (lead, nurse, _), _ = await _people(db)
    inserted = asyncio.Event()

    async def first() -> int:
        async with db() as s:
            made = await notifications.notify(
                s,
                [nurse.user_id],
                NotificationKind.referral_overdue,
                title="Overdue",
                actor=None,
                dedup_key="k",
            )
            inserted.set()
            await asyncio.sleep(0.3)  # hold the uncommitted row while the other one tries
            return len(made)

    async def second() -> int:
        await inserted.wait()
        async with db() as s:
            made = await notifications.notify(
                s,
                [nurse.user_id],
                NotificationKind.referral_overdue,
                title="Overdue",
                actor=lead,
                dedup_key="k",
            )
            return len(made)

    assert sorted(await asyncio.gather(first(), second())) == [0, 1]
    async with db() as s:
        rows = list(await s.exec(select(Notification).where(Notification.user_id == nurse.user_id)))
    assert len(rows) == 1
    assert [e.kind for e in await _inbox_events(db, nurse.user_id)] == ["notification.created"]


async def test_work_changed_is_one_event_per_clinician_and_no_row(db: Any) -> None:
    (lead, nurse, physio), _ = await _people(db)
    async with db() as s:
        await notifications.work_changed(
            s, [nurse.user_id, physio.user_id, nurse.user_id], actor=lead, plan_id=4, reason="task.created"
        )
    for user in (nurse, physio):
        [event] = await _inbox_events(db, user.user_id)
        assert (event.kind, event.data) == ("work.changed", {"plan_id": 4, "reason": "task.created"})
    async with db() as s:
        assert list(await s.exec(select(Notification))) == []


async def test_the_list_is_hers_newest_first_and_audited_as_reads(db: Any) -> None:
    (lead, nurse, physio), patient_id = await _people(db)
    for i in range(3):
        await _notify(db, [nurse.user_id, physio.user_id], lead, title=f"Referral {i}", patient_id=patient_id)
    async with db() as s:
        rows, total, unread = await notifications.list_notifications(s, actor=nurse, limit=2)
    assert [n.title for n in rows] == ["Referral 2", "Referral 1"]
    assert (total, unread) == (3, 3) and {n.user_id for n in rows} == {nurse.user_id}
    async with db() as s:
        reads = list(
            await s.exec(
                select(AuditEntry).where(AuditEntry.action == "read", AuditEntry.user_id == nurse.user_id)
            )
        )
    assert sorted(r.resource_id or "" for r in reads) == sorted(str(n.id) for n in rows)
    assert {(r.resource_type, r.patient_id) for r in reads} == {("notification", patient_id)}


async def test_marking_read_touches_only_her_own_and_says_so_on_her_stream(db: Any) -> None:
    (lead, nurse, physio), _ = await _people(db)
    mine = await _notify(db, [nurse.user_id], lead, title="One")
    mine += await _notify(db, [nurse.user_id], lead, title="Two")
    theirs = await _notify(db, [physio.user_id], lead, title="Physio's")
    async with db() as s:
        left = await notifications.mark_read(
            s, actor=nurse, ids=[mine[0].id or 0, theirs[0].id or 0, 999_999], all=False
        )
    assert left == 1
    async with db() as s:
        assert await notifications.unread_count(s, physio.user_id) == 1  # not hers to mark
        rows, _, unread = await notifications.list_notifications(s, actor=nurse, unread_only=True)
    assert [n.title for n in rows] == ["Two"] and unread == 1
    read = (await _inbox_events(db, nurse.user_id))[-1]
    assert (read.kind, read.data) == ("notification.read", {"ids": [mine[0].id], "unread": 1})
    async with db() as s:  # already read: nothing changes, nothing is said
        assert await notifications.mark_read(s, actor=nurse, ids=[mine[0].id or 0], all=False) == 1
    assert (await _inbox_events(db, nurse.user_id))[-1].id == read.id
    async with db() as s:
        assert await notifications.mark_read(s, actor=nurse, ids=None, all=True) == 0
    last = (await _inbox_events(db, nurse.user_id))[-1]
    assert (last.kind, last.data) == ("notification.read", {"all": True, "unread": 0})
    assert [e.kind for e in await _inbox_events(db, physio.user_id)] == ["notification.created"]
