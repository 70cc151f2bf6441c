"""Referrals' vocabulary: FHIR request-status, the recipient's answer, the phases whose time is kept, the
reasons per discipline, and the kinds of event a referral puts on its plan's stream."""

from __future__ import annotations

from enum import StrEnum

from careteam.core.vocab import Discipline


class ReferralStatus(StrEnum):
    """FHIR request-status, as ServiceRequest.status."""

    draft = "draft"
    active = "active"
    on_hold = "on-hold"
    revoked = "revoked"
    completed = "completed"
    entered_in_error = "entered-in-error"


FINAL_STATUSES = frozenset(
    {ReferralStatus.revoked, ReferralStatus.completed, ReferralStatus.entered_in_error}
)
# Requests still in play: shown to the pool, counted as pending, escalated when late.
OPEN_STATUSES = frozenset({ReferralStatus.draft, ReferralStatus.active, ReferralStatus.on_hold})

# What a PATCH may do to the status; revoke and complete are their own actions (they need a reason or an
# outcome), and entered-in-error is reachable from every status that is not final.
PATCH_TRANSITIONS: dict[ReferralStatus, frozenset[ReferralStatus]] = {
    ReferralStatus.draft: frozenset({ReferralStatus.active, ReferralStatus.entered_in_error}),
    ReferralStatus.active: frozenset({ReferralStatus.on_hold, ReferralStatus.entered_in_error}),
    ReferralStatus.on_hold: frozenset({ReferralStatus.active, ReferralStatus.entered_in_error}),
    ReferralStatus.revoked: frozenset(),
    ReferralStatus.completed: frozenset(),
    ReferralStatus.entered_in_error: frozenset(),
}


class ReferralAnswer(StrEnum):
    """The recipient's answer, kept apart from the request's status (FHIR keeps it on the fulfilling Task)."""

    accepted = "accepted"
    declined = "declined"


class ReferralPriority(StrEnum):
    """FHIR request-priority."""

    routine = "routine"
    urgent = "urgent"
    asap = "asap"
    stat = "stat"


PRIORITY_LABELS: dict[ReferralPriority, str] = {
    ReferralPriority.routine: "Routine",
    ReferralPriority.urgent: "Urgent",
    ReferralPriority.asap: "ASAP",
    ReferralPriority.stat: "STAT",
}


class Phase(StrEnum):
    """Where a referral stands, for its clocks: the time spent in each phase is kept."""

    draft = "draft"
    waiting = "waiting"  # active, nobody has claimed it
    claimed = "claimed"  # claimed (or named), not yet answered
    accepted = "accepted"
    declined = "declined"  # back with the requester
    on_hold = "on-hold"
    completed = "completed"
    revoked = "revoked"
    entered_in_error = "entered-in-error"


PHASE_LABELS: dict[Phase, str] = {
    Phase.draft: "Draft",
    Phase.waiting: "Waiting for a clinician",
    Phase.claimed: "Claimed",
    Phase.accepted: "Accepted",
    Phase.declined: "Declined",
    Phase.on_hold: "On hold",
    Phase.completed: "Completed",
    Phase.revoked: "Revoked",
    Phase.entered_in_error: "Entered in error",
}


def phase_of(status: ReferralStatus, answer: ReferralAnswer | None, claimed: bool) -> Phase:
    if status is ReferralStatus.active:
        if answer is ReferralAnswer.accepted:
            return Phase.accepted
        if answer is ReferralAnswer.declined:
            return Phase.declined
        return Phase.claimed if claimed else Phase.waiting
    return Phase(status.value)


class ReferralEvent(StrEnum):
    """The events a referral puts on its plan's stream (``plan:<id>``); each carries the ReferralPublic."""

    created = "referral.created"
    updated = "referral.updated"
    claimed = "referral.claimed"
    accepted = "referral.accepted"
    declined = "referral.declined"
    completed = "referral.completed"
    revoked = "referral.revoked"
    overdue = "referral.overdue"


# A short coded list of reasons per discipline (free text is always there too).
REASONS: dict[Discipline, dict[str, str]] = {
    Discipline.psychologist: {
        "cbt-pain": "CBT for pain",
        "pre-scs-evaluation": "Pre-SCS psychological evaluation",
        "mood-screening": "Mood screening (PHQ-9, GAD-7)",
        "sleep": "Sleep difficulties",
    },
    Discipline.physical_therapist: {
        "core-stabilisation": "Core stabilisation",
        "graded-exercise": "Graded exercise",
        "mobility": "Mobility",
        "pacing": "Activity pacing",
    },
    Discipline.occupational_therapist: {
        "return-to-work": "Return-to-work assessment",
        "adl-assessment": "Activities of daily living",
        "ergonomics": "Work and home ergonomics",
        "pacing": "Activity pacing",
    },
    Discipline.nurse: {
        "education": "Patient education",
        "follow-up-call": "Follow-up call",
        "medication-monitoring": "Medication monitoring",
        "urine-drug-screen": "Urine drug screen",
    },
    Discipline.pharmacist: {
        "opioid-taper": "Opioid taper plan",
        "medication-review": "Medication review",
    },
    Discipline.social_worker: {
        "benefits": "Benefits and insurance",
        "transport": "Transport to appointments",
        "caregiver": "Caregiver support",
    },
    Discipline.physician: {
        "procedure-consult": "Procedure consultation",
        "medication-review": "Medication review",
    },
    Discipline.ipm_lead: {
        "case-review": "Case review",
    },
}
