"""The demo clinic's case conferences (the Spine MDT): one held two weeks ago, with attendance, decisions
that made a task and a referral, minutes, and an item it did not reach; and the next one, starting soon,
with an agenda (the item not reached rolled over onto it). Created once; a clinic with any conference gets
none."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from careteam.accounts import service as accounts
from careteam.conferences import service as conferences
from careteam.conferences.schemas import (
    Advance,
    ConferenceCreate,
    ConferenceUpdate,
    DecisionCreate,
    DecisionReferral,
    DecisionTask,
    ItemCreate,
    ItemUpdate,
)
from careteam.conferences.tables import Conference
from careteam.core.actor import Actor, actor_of
from careteam.core.vocab import Discipline
from careteam.db.engine import unit_of_work
from careteam.db.types import utcnow
from careteam.patients import service as patients
from careteam.plans import service as plans

TEAM = "Spine MDT"
ATTENDEES = ("physician", "psychologist", "nurse", "physio")
OBSERVERS = ("psychologist2",)  # on no care team: the agenda's boards are lent to him for the meeting

# (patient, reason for presentation, presenter); DOMAIN.md "Referrals, conferences and threads".
HELD: list[tuple[str, str, str | None]] = [
    ("Ellen Marsh", "Decide on RFA after two positive MBBs (80% and 75% relief)", "physician"),
    ("Robert Chen", "SCS trial candidate: gates", "physician"),
    ("Fatima Haddad", "No PEG improvement after 12 weeks", "psychologist"),
]
NEXT: list[tuple[str, str, str | None]] = [
    ("Maria Alvarez", "Declined psychology referral", "nurse"),
    ("Robert Chen", "Taper stalled at 90 MME", "physician"),
]


async def seed(sessions: async_sessionmaker[AsyncSession]) -> int:
    """Create the demo conferences unless the clinic has one; how many it created."""
    async with unit_of_work(sessions) as session:
        if (await session.exec(select(col(Conference.id)).limit(1))).first() is not None:
            return 0
        users = accounts.directory()
        ids = {name: int(uid) for uid, name in await session.exec(select(users.c.id, users.c.username))}
        lead = await _actor(session, ids["lead"])
        plan_rows, _ = await plans.list_plans(session, actor=lead, limit=100)
        names = await patients.patient_cards(session, [p.patient_id for p in plan_rows])
        plan_of = {names[p.patient_id][0]: p.id or 0 for p in sorted(plan_rows, key=lambda p: -(p.id or 0))}
        now = utcnow()
        # Thirteen days ago, not fourteen: the referral its decision made (a routine one, answerable within
        # 14 days) must not be overdue at any hour the demo is seeded; the demo's one overdue referral is
        # another (demo.py, REFERRALS).
        held_at = (now - timedelta(days=13)).replace(hour=13, minute=0, second=0, microsecond=0)
        await _held(session, ids, lead, plan_of, held_at)
        starts = (now + timedelta(minutes=20)).replace(second=0, microsecond=0)
        await conferences.create_conference(
            session,
            _create("Spine MDT", starts, ids, plan_of, NEXT),
            actor=lead,
            now=now,
        )
        return 2


def _create(
    title: str,
    starts: datetime,
    ids: dict[str, int],
    plan_of: dict[str, int],
    agenda: list[tuple[str, str, str | None]],
) -> ConferenceCreate:
    return ConferenceCreate(
        title=title,
        team=TEAM,
        starts_at=starts,
        duration_minutes=60,
        attendee_ids=[ids[u] for u in ATTENDEES],
        observer_ids=[ids[u] for u in OBSERVERS],
        items=[
            ItemCreate(plan_id=plan_of[patient], reason=reason, presenter_id=ids[who] if who else None)
            for patient, reason, who in agenda
        ],
    )


async def _held(
    session: AsyncSession, ids: dict[str, int], lead: Actor, plan_of: dict[str, int], at: datetime
) -> None:
    """The conference of about two weeks ago, lived through the service at its own times."""
    held = await conferences.create_conference(
        session, _create("Spine MDT", at, ids, plan_of, HELD), actor=lead, now=at - timedelta(days=5)
    )
    cid = held.id
    room = [await _actor(session, ids[who]) for who in ("lead", *ATTENDEES, *OBSERVERS)]

    async def everyone_here(when: datetime) -> None:
        for actor in room:
            await conferences.heartbeat(
                session, cid, actor=actor, now=when, heartbeat_seconds=conferences.DEFAULT_HEARTBEAT
            )

    await everyone_here(at)
    ellen, robert, _fatima = held.items
    await everyone_here(at + timedelta(minutes=2))
    await conferences.advance(
        session, cid, Advance(item_id=ellen.id), actor=lead, now=at + timedelta(minutes=2)
    )
    await conferences.add_decision(
        session,
        cid,
        ellen.id,
        DecisionCreate(
            text="Proceed to RFA L4-L5 bilateral",
            task=DecisionTask(
                discipline=Discipline.physician,
                assignee_id=ids["physician"],
                due_date=(at + timedelta(days=28)).date(),
                title="RFA L4-L5 bilateral: book",
            ),
        ),
        actor=lead,
        now=at + timedelta(minutes=9),
    )
    await _minutes(
        session,
        cid,
        ellen.id,
        lead,
        at + timedelta(minutes=12),
        "MBB 1: 80% relief for 6 h; MBB 2: 75%. Both positive against the 80%/50% criteria the team uses. "
        "Taper continues alongside; PT to restart core work two weeks after RFA.",
    )
    await everyone_here(at + timedelta(minutes=14))
    await conferences.advance(
        session, cid, Advance(item_id=robert.id), actor=lead, now=at + timedelta(minutes=14)
    )
    await conferences.add_decision(
        session,
        cid,
        robert.id,
        DecisionCreate(
            text="Psychology to see before next conference",
            referral=DecisionReferral(
                discipline=Discipline.psychologist, reason="Pre-SCS psychological evaluation"
            ),
        ),
        actor=lead,
        now=at + timedelta(minutes=25),
    )
    await _minutes(
        session,
        cid,
        robert.id,
        lead,
        at + timedelta(minutes=28),
        "Gates for the SCS trial: psychological evaluation outstanding; MRI done; opioid dose stable.",
    )
    # The meeting ran out of time before Fatima Haddad: not reached, she rolls over to the next one.
    version = (await conferences.get_conference(session, cid, actor=lead)).version
    await conferences.update_conference(
        session,
        cid,
        ConferenceUpdate(status="ended"),
        expected_version=version,
        actor=lead,
        now=at + timedelta(minutes=58),
    )


async def _minutes(
    session: AsyncSession, cid: int, item_id: int, lead: Actor, at: datetime, text: str
) -> None:
    item = next(
        i for i in (await conferences.get_conference(session, cid, actor=lead)).items if i.id == item_id
    )
    await conferences.update_item(
        session, cid, item_id, ItemUpdate(minutes=text), expected_version=item.version, actor=lead, now=at
    )


async def _actor(session: AsyncSession, user_id: int) -> Actor:
    user = await accounts.active_user(session, user_id)
    assert user is not None, "the demo's accounts are active"
    return actor_of(user)
