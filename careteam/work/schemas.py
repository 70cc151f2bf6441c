"""My work's JSON shapes: ``WorkPublic`` is the body of ``GET /api/v1/me/work``."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import ConfigDict

from careteam.core.schemas import Public
from careteam.core.vocab import Discipline
from careteam.plans.worklist import Due


class WorkPatient(Public):
    id: int
    name: str


class WorkItem(Public):
    """One thing waiting for the clinician: a task (link: its card on the board) or a referral (link: its
    card; ``status`` is its phase, ``due_date`` its respond-by)."""

    kind: Literal["task", "referral"]
    id: int
    plan_id: int
    patient: WorkPatient
    title: str
    discipline: Discipline
    status: str
    priority: str
    due_date: date | None
    assignee_id: int | None
    bucket: Due
    link: str


class WorkUrgent(Public):
    """An urgent message awaiting her acknowledgement (link: the message on its plan's page)."""

    message_id: int
    plan_id: int
    task_id: int | None
    patient: WorkPatient
    author: str
    body: str
    created_at: datetime
    link: str


class WorkCounts(Public):
    """How many items fall in each group, over the whole filtered list (not only this page)."""

    overdue: int
    today: int
    week: int
    later: int


class WorkPublic(Public):
    """``items``: her tasks and the referrals awaiting her answer. For those who refer (IPM leads,
    physicians) also ``sent``: the open referrals she sent, with their clocks; for an IPM lead
    ``overdue_referrals``: every overdue referral of her care teams' patients (each at most 50).
    ``urgent``: the urgent messages awaiting her acknowledgement, oldest first, shown above everything else
    on every page of the list (not counted in ``total`` or ``counts``)."""

    items: list[WorkItem]
    total: int
    offset: int
    limit: int
    counts: WorkCounts
    referrer: bool = False
    sent: list[WorkItem] = []
    overdue_referrals: list[WorkItem] = []
    urgent: list[WorkUrgent] = []

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "items": [
                        {
                            "kind": "task",
                            "id": 17,
                            "plan_id": 4,
                            "patient": {"id": 3, "name": "Ellen Marsh"},
                            "title": "UDS due",
                            "discipline": "nurse",
                            "status": "ready",
                            "priority": "urgent",
                            "due_date": "2026-11-28",
                            "assignee_id": 12,
                            "bucket": "overdue",
                            "link": "/plans/4#task-17",
                        }
                    ],
                    "total": 1,
                    "offset": 0,
                    "limit": 50,
                    "counts": {"overdue": 1, "today": 0, "week": 0, "later": 0},
                }
            ]
        }
    )


class WorkDue(Public):
    """What the header's "My work" badge counts: items overdue and due today."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"overdue": 2, "today": 1}]})

    overdue: int
    today: int
