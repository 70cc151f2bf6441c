"""The referrals side of "My work": referrals waiting for the clinician's answer, as work rows.

Hers are those sent to her by name or claimed by her, and those waiting unclaimed in her discipline's pool,
all not yet answered (an accepted referral is a task on the board by then, and shows as one). A row is due
on its respond-by date; it links to the referral's card. Two queries whatever their number: the referrals
with their patients' names, and nothing per row. Not audited here: "My work" audits what it shows.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import and_, or_
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from careteam.core.actor import Actor
from careteam.core.vocab import Discipline
from careteam.patients import service as patients
from careteam.plans.worklist import DUE_ORDER, Due, WorkRow, WorkSlice, due_of, sort_key
from careteam.referrals.codes import ReferralStatus
from careteam.referrals.service import phase_of_row
from careteam.referrals.tables import Referral

# A pool is a discipline's shared queue: never more than this many are listed as one's work at once.
MOST = 1000


def _awaiting(actor: Actor) -> list[Any]:
    me = actor.user_id
    if actor.is_admin:  # not in any pool (see service.readable_referral_ids): only what names her
        return [
            col(Referral.status) == ReferralStatus.active,
            col(Referral.answer).is_(None),
            or_(col(Referral.assignee_id) == me, col(Referral.claimed_by_id) == me),
        ]
    return [
        col(Referral.status) == ReferralStatus.active,
        col(Referral.answer).is_(None),
        or_(
            col(Referral.assignee_id) == me,
            col(Referral.claimed_by_id) == me,
            and_(
                col(Referral.assignee_id).is_(None),
                col(Referral.claimed_by_id).is_(None),
                col(Referral.discipline) == actor.discipline,
            ),
        ),
    ]


async def referral_work(
    session: AsyncSession,
    *,
    actor: Actor,
    today: date,
    patient_id: int | None,
    discipline: Discipline | None,
    offset: int,
    limit: int,
) -> WorkSlice:
    """Referrals awaiting the actor's answer in ``sort_key`` order from ``offset``, and counts per ``Due``."""
    query = select(Referral).where(*_awaiting(actor))
    if patient_id is not None:
        query = query.where(col(Referral.patient_id) == patient_id)
    if discipline is not None:
        query = query.where(col(Referral.discipline) == discipline)
    found = list(await session.exec(query.order_by(col(Referral.respond_by), col(Referral.id)).limit(MOST)))
    names = await patients.patient_cards(session, (r.patient_id for r in found))
    rows = sorted(
        (
            WorkRow(
                kind="referral",
                id=r.id or 0,
                plan_id=r.plan_id,
                patient_id=r.patient_id,
                patient_name=names[r.patient_id][0],
                title=f"Referral: {r.reason}",
                discipline=Discipline(r.discipline),
                status=phase_of_row(r).value,
                priority=r.priority,
                due_date=r.respond_by.date(),
                assignee_id=r.claimed_by_id or r.assignee_id,
                due=due_of(r.respond_by.date(), today),
                link=f"/referrals/{r.id}",
            )
            for r in found
        ),
        key=sort_key,
    )
    counts = dict.fromkeys(DUE_ORDER, 0)
    for row in rows:
        counts[row.due] += 1
    return WorkSlice(rows=rows[offset : offset + limit], counts=counts)


async def awaiting_due_counts(session: AsyncSession, *, actor: Actor, today: date) -> dict[Due, int]:
    """How many referrals await the actor's answer in each ``Due`` (for the header's badge); one query."""
    counts = dict.fromkeys(DUE_ORDER, 0)
    query = select(col(Referral.respond_by)).where(*_awaiting(actor)).limit(MOST)
    for respond_by in await session.exec(query):
        counts[due_of(respond_by.date(), today)] += 1
    return counts
