"""The room's reads and presence, through the service with fixed times: "changed since the last conference"
is exactly the plan's log after the previous conference ended; presence drops whoever stops saying she is
there within the heartbeat window, or at once when she leaves, and attendance keeps her."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlmodel import col, select

from careteam.accounts.tables import User
from careteam.conferences import service as conferences
from careteam.conferences.schemas import Advance, ConferenceCreate, ConferenceUpdate, ItemCreate
from careteam.core.actor import Actor, actor_of
from careteam.events import streams
from careteam.events.tables import StreamEvent
from careteam.plans.tables import CarePlan, Goal, Task
from tests.conferences.world import Clinic, make_clinic
from tests.factories import emit

HEARTBEAT = 10


async def _actor(db: Any, user_id: int) -> Actor:
    async with db() as s:
        user = await s.get(User, user_id)
        assert user is not None
        return actor_of(user)


async def _conference(db: Any, c: Clinic, lead: Actor, starts: datetime) -> int:
    body = ConferenceCreate(
        title="Spine MDT",
        team="Spine MDT",
        starts_at=starts,
        attendee_ids=[c.doc, c.psy],
        observer_ids=[c.trainee],
        items=[ItemCreate(plan_id=c.plan1, reason="Decide on RFA after two positive MBBs")],
    )
    async with db() as s:
        return (await conferences.create_conference(s, body, actor=lead, now=starts)).id


async def _end(db: Any, conference_id: int, lead: Actor, at: datetime) -> None:
    async with db() as s:
        item = (await conferences.get_conference(s, conference_id, actor=lead)).items[0].id
        await conferences.advance(s, conference_id, Advance(item_id=item), actor=lead, now=at)
    async with db() as s:
        version = (await conferences.get_conference(s, conference_id, actor=lead)).version
        await conferences.update_conference(
            s, conference_id, ConferenceUpdate(status="ended"), expected_version=version, actor=lead, now=at
        )


async def _plan_seqs(db: Any, plan_id: int) -> list[int]:
    async with db() as s:
        rows = await s.exec(
            select(col(StreamEvent.seq))
            .where(StreamEvent.stream_kind == streams.PLAN, StreamEvent.stream_id == plan_id)
            .order_by(col(StreamEvent.seq))
        )
        return list(rows)


async def test_changed_since_lists_exactly_the_events_after_the_previous_conference(db: Any) -> None:
    c = await make_clinic(db)
    lead = await _actor(db, c.lead)
    first = await _conference(db, c, lead, datetime.now(UTC))
    async with db() as s:
        await emit(s, c.plan1, 3, kind="test.before")
    await _end(db, first, lead, datetime.now(UTC))
    before = await _plan_seqs(db, c.plan1)
    async with db() as s:
        await emit(s, c.plan1, 4, kind="test.after")
    second = await _conference(db, c, lead, datetime.now(UTC) + timedelta(minutes=1))
    async with db() as s:
        conf = await conferences.get_conference(s, second, actor=lead)
        changes = await conferences.item_changes(
            s, second, conf.items[0].id, actor=lead, now=datetime.now(UTC)
        )
    assert [e.seq for e in changes.items] == [
        seq for seq in await _plan_seqs(db, c.plan1) if seq not in before
    ]
    assert {e.kind for e in changes.items} == {"test.after"} and len(changes.items) == 4
    assert changes.since is not None and not changes.more
    # The first conference, looked at later, still shows what changed before it (its own look back), and
    # nothing of what came after it ended.
    async with db() as s:
        conf = await conferences.get_conference(s, first, actor=lead)
        past = await conferences.item_changes(s, first, conf.items[0].id, actor=lead, now=datetime.now(UTC))
    assert {e.kind for e in past.items} == {"test.before"} and past.since is None


async def test_presence_drops_within_the_window_and_at_once_on_leaving_attendance_keeps_all(db: Any) -> None:
    c = await make_clinic(db)
    lead, doc, trainee = [await _actor(db, uid) for uid in (c.lead, c.doc, c.trainee)]
    t0 = datetime.now(UTC)
    cid = await _conference(db, c, lead, t0)

    async def beat(actor: Actor, at: datetime) -> list[int]:
        async with db() as s:
            present = await conferences.heartbeat(s, cid, actor=actor, now=at, heartbeat_seconds=HEARTBEAT)
        return [p.user_id for p in present.present]

    async def present_at(at: datetime) -> list[int]:
        async with db() as s:
            found = await conferences.presence(s, cid, actor=lead, now=at, heartbeat_seconds=HEARTBEAT)
        return [p.user_id for p in found.present]

    assert await beat(lead, t0) == [c.lead]
    assert await beat(doc, t0 + timedelta(seconds=1)) == [c.lead, c.doc]
    assert await beat(trainee, t0 + timedelta(seconds=2)) == [c.lead, c.doc, c.trainee]
    # The lead and the trainee keep beating; the doctor closed her laptop without a word.
    for n in range(1, 4):
        at = t0 + timedelta(seconds=n * HEARTBEAT)
        await beat(lead, at)
        await beat(trainee, at + timedelta(seconds=1))
    window = conferences.presence_window(HEARTBEAT)
    assert await present_at(t0 + timedelta(seconds=1) + window) == [c.lead, c.doc, c.trainee]
    assert await present_at(t0 + timedelta(seconds=1) + window + timedelta(seconds=1)) == [c.lead, c.trainee]
    # The trainee closes her tab: gone at once.
    async with db() as s:
        left = await conferences.leave(
            s, cid, actor=trainee, now=t0 + timedelta(seconds=35), heartbeat_seconds=HEARTBEAT
        )
    assert [p.user_id for p in left.present] == [c.lead]
    async with db() as s:
        attended = await conferences.attendance(s, cid, actor=lead)
    assert [a.user_id for a in attended] == [c.lead, c.doc, c.trainee]
    assert attended[2].left_at == t0 + timedelta(seconds=35)
    # Arrivals and departures are events on the room's stream; heartbeats in between are not.
    async with db() as s:
        kinds = list(
            await s.exec(
                select(col(StreamEvent.kind))
                .where(StreamEvent.stream_kind == streams.CONFERENCE, StreamEvent.stream_id == cid)
                .order_by(col(StreamEvent.seq))
            )
        )
    assert kinds == ["conference.updated", *["conference.presence"] * 4]


async def test_suggest_agenda_names_why_each_plan_needs_discussion(db: Any) -> None:
    c = await make_clinic(db)
    lead = await _actor(db, c.lead)
    now = datetime.now(UTC)
    today = now.date()
    async with db() as s:
        s.add(Task(plan_id=c.plan1, title="UDS due", discipline="nurse", due_date=today - timedelta(days=2)))
        s.add(
            Task(plan_id=c.plan1, title="PDMP check", discipline="nurse", due_date=today - timedelta(days=9))
        )
        # Done late is not overdue.
        s.add(
            Task(
                plan_id=c.plan2,
                title="MRI review",
                discipline="physician",
                status="completed",
                due_date=today - timedelta(days=5),
            )
        )
        s.add(Goal(plan_id=c.plan2, description="Walk 30 minutes daily", due_date=today - timedelta(days=1)))
        plan2 = await s.get(CarePlan, c.plan2)
        assert plan2 is not None
        plan2.created_at = now - timedelta(days=200)
        s.add(plan2)
    async with db() as s:
        found = await conferences.suggest_agenda(s, actor=lead, now=now, today=today)
    by_plan = {item.plan_id: item for item in found.items}
    assert [item.plan_id for item in found.items] == [c.plan2, c.plan1]  # most reasons first
    assert by_plan[c.plan1].reasons == ["overdue-task"] and by_plan[c.plan1].reason == "2 overdue tasks"
    assert by_plan[c.plan2].reasons == ["goal-overdue", "not-reviewed"]
    assert by_plan[c.plan2].reason == "1 goal past due; Never reviewed at conference"
    # Discussed at a conference now: no longer "not reviewed".
    first = await _conference(db, c, lead, now)
    async with db() as s:
        conf = await conferences.get_conference(s, first, actor=lead)
        await conferences.update_conference(
            s,
            first,
            ConferenceUpdate(items=[ItemCreate(plan_id=c.plan2, reason="Walking goal missed")]),
            expected_version=conf.version,
            actor=lead,
            now=now,
        )
    await _end(db, first, lead, now)
    async with db() as s:
        found = await conferences.suggest_agenda(s, actor=lead, now=now, today=today)
    assert {i.plan_id: i.reasons for i in found.items}[c.plan2] == ["goal-overdue"]
    # Another IPM lead off these teams is suggested none of them.
    outsider = await _actor(db, c.outsider)
    async with db() as s:
        assert (await conferences.suggest_agenda(s, actor=outsider, now=now, today=today)).items == []
