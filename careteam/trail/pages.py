"""Audit's HTML page: the administrators' audit trail, filtered."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, time, timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from careteam.accounts import service as accounts
from careteam.audit import service as audit
from careteam.audit.codes import AuditAction
from careteam.patients import service as patients
from careteam.web.forms import Db, PageRoute, Viewer, optional_date, optional_id, require_admin
from careteam.web.templating import Pager, page_number, render

AUDIT_PER_PAGE = 50
# The user filter's choices: every account, as far as a select can sensibly list them.
DIRECTORY_LIMIT = 1000

router = APIRouter(route_class=PageRoute, include_in_schema=False)


@router.get("/admin/audit")
async def audit_trail(
    request: Request,
    session: Db,
    actor: Viewer,
    user: str = "",
    patient: str = "",
    action: str = "",
    since: str = "",
    until: str = "",
    page: str = "1",
) -> Response:
    """Who read or changed which patient's data, newest first (administrators)."""
    require_admin(actor)
    errors: dict[str, str] = {}
    user_id, ok = optional_id(user)
    if not ok:
        errors["user"] = "Choose a clinician from the list."
    patient_id, ok = optional_id(patient)
    if not ok:
        errors["patient"] = "Enter the patient's number, as shown on her page (digits only)."
    action_value = action.strip()
    if action_value and action_value not in AuditAction.__members__.values():
        errors["action"] = "Choose an action from the list."
    since_day, ok = optional_date(since)
    if not ok:
        errors["since"] = "Enter a valid date."
    until_day, ok = optional_date(until)
    if not ok:
        errors["until"] = "Enter a valid date."
    if since_day and until_day and until_day < since_day:
        errors["until"] = "The end date is before the start date."
    filters = {
        "user": user.strip(),
        "patient": patient.strip(),
        "action": action_value,
        "since": since.strip(),
        "until": until.strip(),
    }
    pager = Pager("/admin/audit", page_number(page), AUDIT_PER_PAGE, 0, tuple(filters.items()))
    entries: list[Any] = []
    total = 0
    if not errors:
        entries, total = await audit.list_entries(
            session,
            actor=actor,
            user_id=user_id,
            patient_id=patient_id,
            action=AuditAction(action_value) if action_value else None,
            since=datetime.combine(since_day, time.min, UTC) if since_day else None,
            # "Until" is inclusive: everything before the next day's midnight.
            until=datetime.combine(until_day + timedelta(days=1), time.min, UTC) if until_day else None,
            offset=pager.offset,
            limit=pager.size,
        )
    users, _ = await accounts.list_users(session, actor=actor, limit=DIRECTORY_LIMIT)
    # Each entry's patient by MRN and name: a read of those patients, audited (one row per patient shown).
    shown = await patients.patient_labels(
        session, (e.patient_id for e in entries if e.patient_id is not None), actor=actor
    )
    context = {
        "patients": shown,
        "section": "audit",
        "entries": entries,
        "pager": replace(pager, total=total),
        "filters": filters,
        "errors": errors,
        "users": users,
        "users_by_id": {u.id: u for u in users},
        "actions": [a.value for a in AuditAction],
    }
    return render(request, "trail/audit.html", context, status_code=422 if errors else 200)
