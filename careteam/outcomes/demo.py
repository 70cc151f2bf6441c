"""The demo clinic's outcome measures: a few months of scores per patient (at least three PEG or NRS each,
so every plan's trend shows), telling the stories of DOMAIN.md (Ellen Marsh improving after her medial
branch blocks to her goal of PEG 4, Fatima Haddad's PEG flat after 12 weeks, Robert Chen's pain and
disability high before the SCS trial, James O'Neill's first cervical block positive at 80%, Peter Novak
better after his genicular block, 85% relief, and RFA).
Created once; a clinic with any score gets none."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from careteam.accounts import service as accounts
from careteam.core.actor import Actor, actor_of
from careteam.db.engine import unit_of_work
from careteam.db.types import utcnow
from careteam.outcomes import responses
from careteam.outcomes import service as outcomes
from careteam.outcomes.codes import Measure
from careteam.outcomes.schemas import ObservationCreate, ResponseCreate
from careteam.outcomes.tables import Observation
from careteam.patients import service as patients
from careteam.plans import service as plans
from careteam.plans import tasks as plan_tasks

# Who records each measure, if on the patient's care team (else the team's lead).
RECORDED_BY = {
    Measure.nrs: "nurse",
    Measure.peg: "nurse",
    Measure.phq9: "psychologist",
    Measure.gad7: "psychologist",
    Measure.odi: "physio",
}

# Patient -> measure -> scores, oldest first, one every two weeks up to last week; PEG-3 as its three items.
SCORES: dict[str, dict[Measure, list[int | tuple[int, int, int]]]] = {
    "Ellen Marsh": {
        Measure.nrs: [8, 8, 7, 6, 5, 5],
        Measure.peg: [(8, 7, 7), (7, 7, 7), (7, 6, 6), (6, 5, 6), (5, 5, 4), (4, 4, 4)],
        Measure.odi: [46, 44, 40, 36, 32, 30],
        Measure.phq9: [12, 11, 9, 8],
    },
    "Fatima Haddad": {
        Measure.peg: [(7, 7, 7), (7, 8, 7), (7, 7, 6), (7, 7, 7), (8, 7, 7), (7, 7, 7)],
        Measure.phq9: [15, 16, 14, 15],
        Measure.gad7: [11, 12, 11, 10],
    },
    "Robert Chen": {
        Measure.nrs: [8, 7, 8, 8, 7],
        Measure.odi: [52, 54, 50, 52],
    },
    "Maria Alvarez": {
        Measure.nrs: [8, 8, 7, 7, 6],
    },
    "James O'Neill": {
        Measure.nrs: [7, 7, 6, 6],
    },
    "Peter Novak": {
        Measure.nrs: [7, 7, 6, 3, 4],
        Measure.peg: [(7, 6, 7), (7, 6, 6), (6, 6, 5), (3, 4, 4), (4, 4, 4)],
    },
}
# Blocks' responses: (patient, the task's title, relief %, over hours, days ago).
RESPONSES = [
    ("James O'Neill", "Medial branch block C3-C4 (first diagnostic)", 80, 6, 2),
    ("Peter Novak", "Genicular nerve block (diagnostic)", 85, 8, 35),
]
NOTES = {("Ellen Marsh", Measure.nrs, 4): "70% relief at 30 min after the second MBB"}


async def seed(sessions: async_sessionmaker[AsyncSession], *, threshold: int = 80) -> int:
    """Record the demo's scores and blocks' responses unless the clinic has a score; how many it recorded
    (``threshold``: the clinic's block relief threshold)."""
    async with unit_of_work(sessions) as session:
        if (await session.exec(select(col(Observation.id)).limit(1))).first() is not None:
            return 0
        users = accounts.directory()
        ids = {name: int(uid) for uid, name in await session.exec(select(users.c.id, users.c.username))}
        lead = await _actor(session, ids["lead"])
        plan_rows, _ = await plans.list_plans(session, actor=lead, limit=100)
        names = await patients.patient_cards(session, [p.patient_id for p in plan_rows])
        plan_of = {names[p.patient_id][0]: p.id or 0 for p in sorted(plan_rows, key=lambda p: -(p.id or 0))}
        now = utcnow()
        created = 0
        for patient, measures in SCORES.items():
            if patient not in plan_of:
                continue
            plan_id = plan_of[patient]
            for measure, series in measures.items():
                author = await _actor(session, ids[RECORDED_BY[measure]])
                if not await outcomes.on_care_team(session, plan_id, actor=author):
                    author = lead
                for n, score in enumerate(series):
                    weeks_ago = 2 * (len(series) - 1 - n) + 1
                    at = (now - timedelta(weeks=weeks_ago)).replace(
                        hour=10, minute=15, second=0, microsecond=0
                    )
                    await outcomes.record_observation(
                        session,
                        plan_id,
                        _body(measure, score, at, NOTES.get((patient, measure, n))),
                        actor=author,
                        now=now,
                    )
                    created += 1
        for patient, title, relief, hours, days_ago in RESPONSES:
            if patient not in plan_of:
                continue
            rows, _ = await plan_tasks.list_tasks(session, plan_of[patient], actor=lead, limit=200)
            for task in (t for t in rows if t.title == title):
                at = (now - timedelta(days=days_ago, hours=2)).replace(second=0, microsecond=0)
                body = ResponseCreate(
                    relief_percent=relief, duration_hours=hours, observed_at=at, note="Pain diary, hourly"
                )
                await responses.record_response(
                    session, task.id or 0, body, actor=lead, now=now, threshold=threshold
                )
                created += 1
        return created


def _body(
    measure: Measure, score: int | tuple[int, int, int], at: datetime, note: str | None
) -> ObservationCreate:
    if isinstance(score, tuple):
        return ObservationCreate(measure=measure, items=list(score), effective_at=at, note=note)
    return ObservationCreate(measure=measure, value=score, effective_at=at, note=note)


async def _actor(session: AsyncSession, user_id: int) -> Actor:
    user = await accounts.active_user(session, user_id)
    assert user is not None, "the demo's accounts are active"
    return actor_of(user)
