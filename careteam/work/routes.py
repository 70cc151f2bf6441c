"""My work: the JSON API."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from careteam.core.vocab import Discipline
from careteam.web.deps import CurrentActor, Digits, Now, Offset, SessionDep
from careteam.work import service as work
from careteam.work.schemas import WorkDue, WorkPublic

router = APIRouter(tags=["my work"])


@router.get("/me/work")
async def get_my_work(
    actor: CurrentActor,
    session: SessionDep,
    now: Now,
    offset: Offset = 0,
    limit: Annotated[int, Query(ge=1, le=work.PAGE_SIZE), Digits] = work.PAGE_SIZE,
    patient_id: Annotated[int | None, Query(gt=0, lt=2**31), Digits] = None,
    discipline: Discipline | None = None,
) -> WorkPublic:
    """Your open tasks (assigned to you, or unassigned in your discipline's lane) and the referrals awaiting
    your answer (to you, or to your discipline's pool) across your patients, overdue first; ``counts`` per
    group over the whole filtered list. If you refer: ``sent``; an IPM lead: ``overdue_referrals``."""
    return await work.list_work(
        session,
        actor=actor,
        today=now.date(),
        now=now,
        patient_id=patient_id,
        discipline=discipline,
        offset=offset,
        limit=limit,
    )


@router.get("/me/work/due")
async def get_my_work_due(actor: CurrentActor, session: SessionDep, now: Now) -> WorkDue:
    """How many of your work items are overdue and due today (the header's badge); numbers only."""
    return WorkDue(**await work.header_counts(session, actor, today=now.date()))
