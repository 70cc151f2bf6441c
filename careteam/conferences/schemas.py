"""Conferences' input and output shapes."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

from pydantic import AwareDatetime, ConfigDict, Field, StringConstraints, model_validator

from careteam.conferences.codes import ConferenceStatus, DecisionKind, ItemStatus, Role, Suggestion
from careteam.core.schemas import Input, Public, Title, UserId
from careteam.core.vocab import Discipline
from careteam.plans.codes import TaskPriority
from careteam.referrals.codes import ReferralPriority

Reason = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=300)]
Team = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
DecisionText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=1000)]
Minutes = Annotated[str, StringConstraints(max_length=10000)]
Duration = Annotated[int, Field(ge=15, le=480)]

AGENDA_MAX = 30
PARTICIPANTS_MAX = 100
DEFAULT_TEAM = "Case conference"

_CREATE_EXAMPLE: dict[str, Any] = {
    "title": "Spine MDT, Thursday",
    "team": "Spine MDT",
    "starts_at": "2026-12-03T13:00:00Z",
    "duration_minutes": 60,
    "attendee_ids": [3, 4, 5],
    "observer_ids": [9],
    "items": [
        {
            "plan_id": 4,
            "reason": "Decide on RFA after two positive MBBs (80% and 75% relief)",
            "presenter_id": 3,
        },
        {"plan_id": 7, "reason": "Declined psychology referral"},
    ],
}


class ItemCreate(Input):
    """A plan on the agenda: why it is presented, and who presents it (a participant; default none)."""

    plan_id: UserId
    reason: Reason
    presenter_id: UserId | None = None


class ConferenceCreate(Input):
    """Schedule a conference. You (an IPM lead) facilitate unless ``facilitator_id`` names another IPM lead.
    ``team`` is the group that meets: items a conference does not reach roll over to its next one."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [_CREATE_EXAMPLE]})

    title: Title
    team: Team = DEFAULT_TEAM
    starts_at: AwareDatetime
    duration_minutes: Duration = 60
    facilitator_id: UserId | None = None
    attendee_ids: list[UserId] = Field(default=[], max_length=PARTICIPANTS_MAX)
    observer_ids: list[UserId] = Field(default=[], max_length=PARTICIPANTS_MAX)
    items: list[ItemCreate] = Field(default=[], max_length=AGENDA_MAX)


class ConferenceUpdate(Input):
    """Any subset. ``items`` replaces the agenda (items kept by ``plan_id`` keep their decisions and status);
    ``status``: ``in-progress`` starts it, ``ended`` ends it (pending items become not reached and roll
    over), ``cancelled`` cancels one not yet started."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"starts_at": "2026-12-03T14:00:00Z"}, {"status": "ended"}]},
    )

    title: Title | None = None
    team: Team | None = None
    starts_at: AwareDatetime | None = None
    duration_minutes: Duration | None = None
    attendee_ids: list[UserId] | None = Field(default=None, max_length=PARTICIPANTS_MAX)
    observer_ids: list[UserId] | None = Field(default=None, max_length=PARTICIPANTS_MAX)
    items: list[ItemCreate] | None = Field(default=None, max_length=AGENDA_MAX)
    status: ConferenceStatus | None = None


class Advance(Input):
    """Move every screen to ``item_id``, or (without it) to the next pending item after the current one."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"item_id": 12}, {}]})

    item_id: UserId | None = None


class ItemUpdate(Input):
    """The facilitator's record of an item: its outcome, minutes, reason or presenter."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"status": "discussed", "minutes": "Two positive MBBs. Team agrees to proceed to RFA."}
            ]
        },
    )

    status: ItemStatus | None = None
    minutes: Minutes | None = None
    reason: Reason | None = None
    presenter_id: UserId | None = None


class DecisionTask(Input):
    """The task a decision puts on the plan: its lane, assignee, due date (title: the decision's text)."""

    discipline: Discipline
    assignee_id: UserId | None = None
    due_date: date | None = None
    priority: TaskPriority = TaskPriority.routine
    title: Title | None = None


class DecisionReferral(Input):
    """The referral a decision sends: to a discipline's pool or a named clinician (reason: the decision)."""

    discipline: Discipline
    assignee_id: UserId | None = None
    priority: ReferralPriority = ReferralPriority.routine
    reason: Reason | None = None


class DecisionCreate(Input):
    """A decision on an item; with ``task`` or ``referral`` (not both) it makes one on the item's plan."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "text": "Proceed to RFA L4-L5 bilateral",
                    "task": {"discipline": "physician", "assignee_id": 3, "due_date": "2026-12-17"},
                },
                {
                    "text": "Psychology to see before next conference",
                    "referral": {"discipline": "psychologist"},
                },
                {"text": "Continue current plan; review in 3 months"},
            ]
        },
    )

    text: DecisionText
    task: DecisionTask | None = None
    referral: DecisionReferral | None = None

    @model_validator(mode="after")
    def _one_outcome(self) -> DecisionCreate:
        if self.task is not None and self.referral is not None:
            raise ValueError("a decision makes a task or a referral, not both")
        return self

    @property
    def kind(self) -> DecisionKind:
        if self.task is not None:
            return DecisionKind.task
        return DecisionKind.referral if self.referral is not None else DecisionKind.note


class ParticipantPublic(Public):
    user_id: int
    name: str
    discipline: str
    role: Role


class DecisionPublic(Public):
    id: int
    item_id: int
    text: str
    kind: DecisionKind
    task_id: int | None
    referral_id: int | None
    author_id: int
    created_at: datetime


class ItemPublic(Public):
    id: int
    plan_id: int
    patient_id: int
    patient_name: str
    plan_title: str
    position: int
    reason: str
    presenter_id: int | None
    status: ItemStatus
    minutes: str
    carried_from_id: int | None
    version: int
    decisions: list[DecisionPublic]


class ConferencePublic(Public):
    id: int
    title: str
    team: str
    starts_at: datetime
    duration_minutes: int
    facilitator_id: int
    status: ConferenceStatus
    current_item_id: int | None
    started_at: datetime | None
    ended_at: datetime | None
    access_from: datetime
    access_until: datetime
    version: int
    last_seq: int
    participants: list[ParticipantPublic]
    items: list[ItemPublic]


class ConferenceListed(Public):
    """A conference in a list: no agenda (its patients are read when it is opened)."""

    id: int
    title: str
    team: str
    starts_at: datetime
    duration_minutes: int
    facilitator_id: int
    status: ConferenceStatus
    role: Role
    items: int


class ConferencesPublic(Public):
    items: list[ConferenceListed]
    total: int


class PresentPublic(Public):
    user_id: int
    name: str
    role: Role
    joined_at: datetime


class PresencePublic(Public):
    """Who has the room open now (seen within the heartbeat window), and how often to say she still does."""

    present: list[PresentPublic]
    heartbeat_seconds: int


class AttendancePublic(Public):
    user_id: int
    name: str
    role: Role
    joined_at: datetime
    last_seen_at: datetime
    left_at: datetime | None
    item_ids: list[int]


class SuggestionPublic(Public):
    plan_id: int
    patient_id: int
    patient_name: str
    plan_title: str
    reasons: list[Suggestion]
    reason: str
    last_reviewed_at: datetime | None


class SuggestionsPublic(Public):
    items: list[SuggestionPublic]


class ChangePublic(Public):
    """An event of the plan's stream (``kind`` and ``data`` as on the websocket), with its actor's name."""

    seq: int
    kind: str
    at: datetime
    actor_id: int | None
    who: str
    data: dict[str, Any]


class ChangesPublic(Public):
    """The plan's events after its previous conference's end (``since``; null: never discussed, the last
    30 days), oldest first."""

    plan_id: int
    since: datetime | None
    items: list[ChangePublic]
    more: bool


class SummaryDecision(DecisionPublic):
    task_title: str | None
    referral_discipline: str | None


class SummaryItem(Public):
    id: int
    plan_id: int
    patient_name: str
    plan_title: str
    reason: str
    presenter_name: str | None
    status: ItemStatus
    minutes: str
    decisions: list[SummaryDecision]
    attended_by: list[str]


class SummaryPublic(Public):
    """What a conference decided, for the record: attendance, and per item the outcome, decisions, tasks and
    referrals made, minutes."""

    conference: ConferenceListed
    started_at: datetime | None
    ended_at: datetime | None
    attendance: list[AttendancePublic]
    items: list[SummaryItem]
