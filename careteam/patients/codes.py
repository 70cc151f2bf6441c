"""Patients' vocabulary: team roles and care team status (FHIR CareTeam.status)."""

from __future__ import annotations

from enum import StrEnum


class TeamRole(StrEnum):
    lead = "lead"
    member = "member"


class CareTeamStatus(StrEnum):
    """FHIR CareTeam.status."""

    proposed = "proposed"
    active = "active"
    suspended = "suspended"
    inactive = "inactive"
    entered_in_error = "entered-in-error"
