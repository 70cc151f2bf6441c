"""The audit trail, for administrators."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query

from careteam.audit import service as audit
from careteam.audit.codes import AuditAction
from careteam.audit.schemas import AuditEntryPublic
from careteam.core.schemas import Page
from careteam.web.deps import CurrentActor, Digits, Limit, Offset, SessionDep

router = APIRouter(tags=["audit"])


@router.get("/audit")
async def list_audit(
    actor: CurrentActor,
    session: SessionDep,
    limit: Limit,
    user_id: Annotated[int | None, Query(gt=0, lt=2**31), Digits] = None,
    patient_id: Annotated[int | None, Query(gt=0, lt=2**31), Digits] = None,
    action: AuditAction | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    offset: Offset = 0,
) -> Page[AuditEntryPublic]:
    """Who read or changed which patient's data, newest first."""
    rows, total = await audit.list_entries(
        session,
        actor=actor,
        user_id=user_id,
        patient_id=patient_id,
        action=action,
        since=since,
        until=until,
        offset=offset,
        limit=limit,
    )
    return Page(
        items=[AuditEntryPublic.model_validate(e) for e in rows], total=total, offset=offset, limit=limit
    )
