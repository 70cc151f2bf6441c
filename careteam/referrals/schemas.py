"""Referrals' input and output shapes."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import AwareDatetime, ConfigDict, StringConstraints, field_validator

from careteam.core.schemas import Input, Page, Public, UserId
from careteam.core.vocab import Discipline
from careteam.referrals.codes import Phase, ReferralAnswer, ReferralPriority, ReferralStatus

Reason = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]
Note = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=1000)]
Outcome = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=4000)]
ReasonCode = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=40)]

_CREATE_EXAMPLE: dict[str, Any] = {
    "plan_id": 4,
    "discipline": "psychologist",
    "reason": "CBT for pain catastrophising (PCS 34)",
    "reason_code": "cbt-pain",
    "priority": "routine",
}


class ReferralCreate(Input):
    """A referral for a plan, to a discipline's pool or (``assignee_id``) a named clinician of it.

    ``respond_by`` defaults by priority (``CARETEAM_REFERRAL_RESPOND_HOURS_<PRIORITY>``); ``status`` is
    ``active`` (sent) unless ``draft``.
    """

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [_CREATE_EXAMPLE]})

    plan_id: UserId
    discipline: Discipline
    assignee_id: UserId | None = None
    reason: Reason
    reason_code: ReasonCode | None = None
    priority: ReferralPriority = ReferralPriority.routine
    respond_by: AwareDatetime | None = None
    status: ReferralStatus = ReferralStatus.active

    @field_validator("status")
    @classmethod
    def _draft_or_active(cls, status: ReferralStatus) -> ReferralStatus:
        if status not in (ReferralStatus.draft, ReferralStatus.active):
            raise ValueError("a new referral is draft or active")
        return status


class ReferralUpdate(Input):
    """Any subset; ``status`` moves draft -> active, active <-> on-hold, or to entered-in-error. Changing
    ``discipline`` or ``assignee_id`` sends it to a new recipient (the claim and a decline are cleared)."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"priority": "urgent", "reason": "PCS now 41"}]}
    )

    discipline: Discipline | None = None
    assignee_id: UserId | None = None
    reason: Reason | None = None
    reason_code: ReasonCode | None = None
    priority: ReferralPriority | None = None
    respond_by: AwareDatetime | None = None
    status: ReferralStatus | None = None


class Decline(Input):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"reason": "Seen last month; no new indication."}]}
    )

    reason: Note


class Complete(Input):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"outcome": "6 CBT sessions done; PCS 34 -> 18. Discharged."}]},
    )

    outcome: Outcome


class Revoke(Input):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"reason": "Patient moved to another clinic."}]}
    )

    reason: Note


class PersonPublic(Public):
    id: int
    display_name: str


class ReferralIdentifier(Public):
    """The sender's own id for a referral (an EMR's order number: FHIR ServiceRequest.identifier)."""

    system: str
    value: str


class ReferralPatient(Public):
    """The minimal patient a pool member off the care team sees: name and age, nothing clinical."""

    id: int
    name: str
    age: int


class ReferralPublic(Public):
    """A referral. ``on_team: false`` is the minimal card a pool member off the care team sees: the plan's
    board is not hers (404), and the decline reason and outcome are not shown (null)."""

    model_config = ConfigDict(
        from_attributes=True,
        json_schema_extra={
            "examples": [
                {
                    **_CREATE_EXAMPLE,
                    "id": 12,
                    "patient": {"id": 3, "name": "Ellen Marsh", "age": 58},
                    "requester": {"id": 2, "display_name": "Dr. Ana Ruiz"},
                    "assignee": None,
                    "claimed_by": None,
                    "respond_by": "2026-12-15T09:00:00Z",
                    "status": "active",
                    "answer": None,
                    "phase": "waiting",
                    "phase_since": "2026-12-01T09:00:00Z",
                    "phase_seconds": {},
                    "overdue": False,
                    "task_ids": [],
                    "on_team": True,
                    "version": 1,
                }
            ]
        },
    )

    id: int
    plan_id: int
    patient: ReferralPatient
    discipline: Discipline
    requester: PersonPublic
    assignee: PersonPublic | None
    claimed_by: PersonPublic | None
    reason: str
    reason_code: str | None
    priority: ReferralPriority
    respond_by: datetime
    status: ReferralStatus
    answer: ReferralAnswer | None
    decline_reason: str | None = None
    outcome: str | None = None
    revoke_reason: str | None = None
    phase: Phase
    phase_since: datetime
    phase_seconds: dict[str, float]
    overdue: bool
    task_ids: list[int]
    on_team: bool
    identifier: ReferralIdentifier | None = None
    version: int
    created_at: datetime | None = None
    updated_at: datetime | None = None


ReferralsPublic = Page[ReferralPublic]
