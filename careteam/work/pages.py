"""My work's page: the clinician's open work grouped by when it is due, kept live by ``work.js``.

The page is ``list_work``'s answer as HTML; the script follows the clinician's own stream ``user:<id>`` and,
whenever her worklist may have changed, fetches ``GET /api/v1/me/work`` with the page's filters and draws
the groups again from ``<template>`` elements, with ``textContent`` only.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from careteam.core.vocab import DISCIPLINE_LABELS, Discipline
from careteam.messaging import service as messaging
from careteam.patients import service as patients
from careteam.plans.codes import TaskPriority, TaskStatus
from careteam.plans.worklist import DUE_ORDER, Due
from careteam.referrals.codes import PHASE_LABELS, Phase
from careteam.web.deps import Id, Now
from careteam.web.forms import Db, Editor, PageRoute, Viewer, see_other
from careteam.web.templating import Pager, page_number, render, status_label
from careteam.work import service as work
from careteam.work.schemas import WorkItem, WorkUrgent

router = APIRouter(route_class=PageRoute, include_in_schema=False)

GROUP_LABELS: dict[Due, str] = {
    Due.overdue: "Overdue",
    Due.today: "Due today",
    Due.week: "This week",
    Due.later: "Later",
}
PRIORITY_LABELS = {
    TaskPriority.routine.value: "Routine",
    TaskPriority.urgent.value: "Urgent",
    TaskPriority.asap.value: "ASAP",
    TaskPriority.stat.value: "STAT",
}
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def due_text(due: date | None, today: date) -> str:
    """ "Due 12 May" (this year), "Due 12 May 2027", or "No due date"; work.js says the same."""
    if due is None:
        return "No due date"
    label = f"{due.day} {MONTHS[due.month - 1]}"
    return f"Due {label}" if due.year == today.year else f"Due {label} {due.year}"


def row_view(item: WorkItem, today: date) -> dict[str, Any]:
    return {
        "key": f"{item.kind}-{item.id}",
        "kind": item.kind,
        "title": item.title,
        "link": item.link,
        "patient": item.patient.name,
        "lane": DISCIPLINE_LABELS[item.discipline],
        "status": PHASE_LABELS[Phase(item.status)] if item.kind == "referral" else status_label(item.status),
        "priority": PRIORITY_LABELS.get(item.priority, item.priority),
        "high_priority": item.priority != TaskPriority.routine.value,
        "due": due_text(item.due_date, today),
        "due_iso": item.due_date.isoformat() if item.due_date else "",
        "overdue": item.bucket is Due.overdue,
    }


# An urgent message's row shows this much of its text; the link opens the whole message.
URGENT_EXCERPT = 160


def urgent_view(item: WorkUrgent) -> dict[str, Any]:
    """An urgent message awaiting her acknowledgement, as a row; work.js draws the same."""
    text = " ".join(item.body.split())
    return {
        "key": f"message-{item.message_id}",
        "id": item.message_id,
        "text": text if len(text) <= URGENT_EXCERPT else text[: URGENT_EXCERPT - 1] + "…",
        "link": item.link,
        "patient": item.patient.name,
        "author": item.author,
    }


def _patient_filter(raw: str, choices: list[tuple[int, str]]) -> int | None:
    """A lenient ``?patient_id=``: one of her patients, or no filter."""
    known = {pid for pid, _ in choices}
    return int(raw) if raw.isdecimal() and len(raw) < 10 and int(raw) in known else None


@router.get("/work")
async def work_page(
    request: Request,
    session: Db,
    actor: Viewer,
    now: Now,
    patient_id: str = "",
    discipline: str = "",
    page: str = "1",
) -> Response:
    """What is waiting for you across your patients: overdue, due today, this week, later."""
    today = now.date()
    choices = await patients.clinical_patient_choices(session, actor=actor)
    patient = _patient_filter(patient_id.strip(), choices)
    lane = Discipline(discipline) if discipline in Discipline.__members__.values() else None
    params = (("patient_id", str(patient or "")), ("discipline", lane.value if lane else ""))
    pager = Pager("/work", page_number(page), work.PAGE_SIZE, 0, params)
    listing = await work.list_work(
        session,
        actor=actor,
        today=today,
        patient_id=patient,
        discipline=lane,
        offset=pager.offset,
        limit=pager.size,
        now=now,
    )
    counts = listing.counts.model_dump()
    groups = [
        {
            "due": due.value,
            "label": GROUP_LABELS[due],
            "count": counts[due.value],
            "rows": [row_view(item, today) for item in listing.items if item.bucket is due],
        }
        for due in DUE_ORDER
    ]
    state = {
        "user_id": actor.user_id,
        "filters": {"patient_id": patient, "discipline": lane.value if lane else None},
        "offset": pager.offset,
        "limit": pager.size,
        "today": today.isoformat(),
        "groups": {due.value: GROUP_LABELS[due] for due in DUE_ORDER},
        "disciplines": {d.value: DISCIPLINE_LABELS[d] for d in Discipline},
        "statuses": {s.value: status_label(s.value) for s in TaskStatus}
        | {p.value: label for p, label in PHASE_LABELS.items()},
        "priorities": PRIORITY_LABELS,
        "urgent_excerpt": URGENT_EXCERPT,
    }
    context = {
        "section": "work",
        "groups": groups,
        "total": listing.total,
        "pager": replace(pager, total=listing.total),
        "referrer": listing.referrer,
        "lead": actor.discipline is Discipline.ipm_lead,
        "sent": [row_view(item, today) for item in listing.sent],
        "overdue_referrals": [row_view(item, today) for item in listing.overdue_referrals],
        "urgent": [urgent_view(item) for item in listing.urgent],
        "blank_urgent": dict.fromkeys(("key", "id", "text", "link", "patient", "author"), ""),
        "patient_choices": choices,
        "filters": {"patient_id": patient or "", "discipline": lane.value if lane else ""},
        "filtered": patient is not None or lane is not None,
        "state": state,
        "blank_row": dict.fromkeys(
            ("key", "kind", "title", "link", "patient", "lane", "status", "priority", "due", "due_iso"), ""
        )
        | {"overdue": False, "high_priority": False},
    }
    return render(request, "work/work.html", context)


@router.post("/work/messages/{message_id}/ack")
async def acknowledge(message_id: Id, session: Db, actor: Editor) -> Response:
    """Acknowledge an urgent message from My work (the form without script); back to My work, where it has
    left the list. The sender sees the acknowledgement live."""
    await messaging.acknowledge(session, message_id, actor=actor)
    return see_other("/work")
