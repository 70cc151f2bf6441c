"""My work: the items waiting for a clinician, from every source (tasks now; referrals slot in), as one list.

Each source (``Source``) answers a page of its own items in the shared order (``plans.worklist.sort_key``)
and its counts per group over all of them. With one source the page is read straight from it; with several,
each gives its first ``offset + limit`` items, the lists are merged in that order and the page cut from the
merge, so the order and the counts stay exact across kinds, in a constant number of queries per source.
"""

from __future__ import annotations

import heapq
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, date, datetime, time

from sqlmodel.ext.asyncio.session import AsyncSession

from careteam.audit import service as audit
from careteam.core.actor import Actor
from careteam.core.vocab import Discipline
from careteam.messaging import service as messaging
from careteam.patients import service as patients_service
from careteam.plans import worklist
from careteam.plans.worklist import DUE_ORDER, Due, WorkRow, WorkSlice, due_of, sort_key
from careteam.referrals import service as referrals
from careteam.referrals.schemas import ReferralPublic
from careteam.referrals.worklist import awaiting_due_counts, referral_work
from careteam.work.schemas import WorkCounts, WorkItem, WorkPatient, WorkPublic, WorkUrgent

# A page of My work: 50 rows at most.
PAGE_SIZE = 50

# ``source(session, actor=, today=, patient_id=, discipline=, offset=, limit=)``: one kind of work item.
Source = Callable[..., Awaitable[WorkSlice]]


async def _tasks(
    session: AsyncSession,
    *,
    actor: Actor,
    today: date,
    patient_id: int | None,
    discipline: Discipline | None,
    offset: int,
    limit: int,
) -> WorkSlice:
    return await worklist.task_work(
        session,
        user_id=actor.user_id,
        own_lane=actor.discipline,
        today=today,
        patient_id=patient_id,
        discipline=discipline,
        offset=offset,
        limit=limit,
    )


# Each kind of work item: tasks on the boards, and referrals awaiting her answer.
SOURCES: tuple[Source, ...] = (_tasks, referral_work)
# Who also follows the referrals she sent; an IPM lead also every overdue referral of her patients.
_REFERRERS = frozenset({Discipline.ipm_lead, Discipline.physician})


async def list_work(
    session: AsyncSession,
    *,
    actor: Actor,
    today: date,
    patient_id: int | None = None,
    discipline: Discipline | None = None,
    offset: int = 0,
    limit: int = 50,
    sources: Sequence[Source] = SOURCES,
    now: datetime | None = None,
) -> WorkPublic:
    """What waits for the actor across her patients, overdue first; one audited read per patient shown."""
    filters = {"actor": actor, "today": today, "patient_id": patient_id, "discipline": discipline}
    if len(sources) == 1:
        only = await sources[0](session, **filters, offset=offset, limit=limit)
        rows, counts = only.rows, only.counts
    else:
        slices = [await source(session, **filters, offset=0, limit=offset + limit) for source in sources]
        merged = heapq.merge(*(s.rows for s in slices), key=sort_key)
        rows = list(merged)[offset : offset + limit]
        counts = {due: sum(s.counts[due] for s in slices) for due in DUE_ORDER}
    awaiting = await messaging.awaiting_acknowledgement(session, actor=actor, patient_id=patient_id)
    urgent = await _urgent_items(session, awaiting)
    patients = dict.fromkeys([*(u.patient.id for u in urgent), *(row.patient_id for row in rows)])
    await audit.insert_reads(session, actor, "patient", ((pid, pid) for pid in patients))
    sent: list[WorkItem] = []
    overdue: list[WorkItem] = []
    if actor.discipline in _REFERRERS:
        now = now or datetime.combine(today, time(12), UTC)
        mine, _ = await referrals.followed_referrals(
            session, actor=actor, which="sent", now=now, patient_id=patient_id, discipline=discipline
        )
        sent = [_referral_item(r, today) for r in mine]
        if actor.discipline is Discipline.ipm_lead:
            late, _ = await referrals.followed_referrals(
                session, actor=actor, which="overdue", now=now, patient_id=patient_id, discipline=discipline
            )
            overdue = [_referral_item(r, today) for r in late]
    return WorkPublic(
        items=[_item(row) for row in rows],
        total=sum(counts.values()),
        offset=offset,
        limit=limit,
        counts=WorkCounts(**{due.value: counts[due] for due in DUE_ORDER}),
        referrer=actor.discipline in _REFERRERS,
        sent=sent,
        overdue_referrals=overdue,
        urgent=urgent,
    )


async def _urgent_items(session: AsyncSession, awaiting: list[messaging.Awaiting]) -> list[WorkUrgent]:
    """The urgent messages as rows, their patients' names in one query."""
    if not awaiting:
        return []
    names = await patients_service.patient_cards(session, (a.patient_id for a in awaiting))
    return [
        WorkUrgent(
            message_id=a.message.id,
            plan_id=a.message.plan_id,
            task_id=a.message.task_id,
            patient=WorkPatient(id=a.patient_id, name=names[a.patient_id][0]),
            author=a.message.author.display_name,
            body=a.message.body,
            created_at=a.message.created_at,
            link=a.link,
        )
        for a in awaiting
    ]


def _referral_item(referral: ReferralPublic, today: date) -> WorkItem:
    """A referral the clinician sent or oversees, as a row: due on its respond-by, overdue by its clock."""
    due_date = referral.respond_by.date()
    return WorkItem(
        kind="referral",
        id=referral.id,
        plan_id=referral.plan_id,
        patient=WorkPatient(id=referral.patient.id, name=referral.patient.name),
        title=f"Referral: {referral.reason}",
        discipline=referral.discipline,
        status=referral.phase.value,
        priority=referral.priority.value,
        due_date=due_date,
        assignee_id=referral.claimed_by.id if referral.claimed_by else None,
        bucket=Due.overdue if referral.overdue else due_of(due_date, today),
        link=f"/referrals/{referral.id}",
    )


async def header_counts(session: AsyncSession, actor: Actor, *, today: date) -> dict[str, int]:
    """The badge next to "My work": her open tasks and the referrals awaiting her answer that are overdue
    or due today, in two queries (not audited: numbers only, no patient shown)."""
    tasks = await worklist.due_counts(session, user_id=actor.user_id, own_lane=actor.discipline, today=today)
    waiting = await awaiting_due_counts(session, actor=actor, today=today)
    return {due.value: tasks[due] + waiting[due] for due in (Due.overdue, Due.today)}


def _item(row: WorkRow) -> WorkItem:
    return WorkItem(
        kind="referral" if row.kind == "referral" else "task",
        id=row.id,
        plan_id=row.plan_id,
        patient=WorkPatient(id=row.patient_id, name=row.patient_name),
        title=row.title,
        discipline=row.discipline,
        status=row.status,
        priority=row.priority,
        due_date=row.due_date,
        assignee_id=row.assignee_id,
        bucket=row.due,
        link=row.link,
    )
