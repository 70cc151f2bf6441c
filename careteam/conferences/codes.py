"""Conferences' vocabulary: a conference's and an item's status, who takes part how, what a decision makes,
why a plan is suggested for the agenda, and the kinds of event on a conference's stream."""

from __future__ import annotations

from datetime import timedelta
from enum import StrEnum
from typing import Final


class ConferenceStatus(StrEnum):
    scheduled = "scheduled"
    in_progress = "in-progress"
    ended = "ended"
    cancelled = "cancelled"


CLOSED_STATUSES: Final = frozenset({ConferenceStatus.ended, ConferenceStatus.cancelled})


class Role(StrEnum):
    """How one takes part: the facilitator runs it (an IPM lead), attendees discuss, observers (trainees)
    watch and write nothing."""

    facilitator = "facilitator"
    attendee = "attendee"
    observer = "observer"


class ItemStatus(StrEnum):
    """An agenda item: waiting, then discussed, deferred (to a later conference, by choice) or not reached
    (the meeting ran out of time: it rolls over to the next conference of the same team)."""

    pending = "pending"
    discussed = "discussed"
    deferred = "deferred"
    not_reached = "not-reached"


ITEM_STATUS_LABELS: Final = {
    ItemStatus.pending: "Pending",
    ItemStatus.discussed: "Discussed",
    ItemStatus.deferred: "Deferred",
    ItemStatus.not_reached: "Not reached",
}


class DecisionKind(StrEnum):
    """What a decision makes: the record alone (note), a task, or a referral on the item's plan."""

    note = "note"
    task = "task"
    referral = "referral"


class Suggestion(StrEnum):
    """Why "Suggest agenda" proposes a plan (each a reason a clinician would give)."""

    overdue_task = "overdue-task"
    overdue_referral = "overdue-referral"
    declined_referral = "declined-referral"
    goal_overdue = "goal-overdue"
    not_reviewed = "not-reviewed"


# Follow-up every 3 to 6 months is the norm in IPM: a plan not discussed for this long is proposed.
REVIEW_EVERY: Final = timedelta(days=91)


class ConferenceEvent(StrEnum):
    """The kinds of event on ``conference:<id>``; each carries the conference as ``ConferencePublic``
    (``conference.presence`` the people connected now, ``conference.decision`` the decision too)."""

    updated = "conference.updated"
    advanced = "conference.advanced"
    item = "conference.item"
    decision = "conference.decision"
    presence = "conference.presence"
