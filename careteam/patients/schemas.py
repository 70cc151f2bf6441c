"""Patients' input and output shapes: patients, care team members, care teams."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

from pydantic import (
    AfterValidator,
    Field,
    StringConstraints,
)

from careteam.core.schemas import Input, Name, Public
from careteam.core.vocab import Discipline
from careteam.patients.codes import CareTeamStatus, TeamRole

Mrn = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=32, pattern=r"^[A-Za-z0-9-]+$")
]


def _not_in_future(value: date | None) -> date | None:
    if value is not None and value > date.today():
        raise ValueError("birth date cannot be in the future")
    return value


BirthDate = Annotated[date, AfterValidator(_not_in_future)]


class PatientCreate(Input):
    mrn: Mrn
    name: Name
    birth_date: BirthDate


class PatientUpdate(Input):
    name: Name | None = None
    birth_date: BirthDate | None = None


class PatientPublic(Public):
    id: int
    mrn: str
    name: str
    birth_date: date


class MemberCreate(Input):
    user_id: int = Field(gt=0, lt=2**31)
    role: TeamRole = TeamRole.member
    discipline: Discipline | None = None  # defaults to the user's own discipline


class MembersCreate(Input):
    """Several clinicians at once (the patient page's "Add to team"): all are added, or none."""

    members: Annotated[list[MemberCreate], Field(min_length=1, max_length=50)]


class MemberPublic(Public):
    id: int
    user_id: int
    username: str
    display_name: str
    role: TeamRole
    discipline: Discipline


class CareTeamUpdate(Input):
    name: Name | None = None
    status: CareTeamStatus | None = None


class CareTeamPublic(Public):
    id: int
    patient_id: int
    name: str
    status: CareTeamStatus
    version: int
    members: list[MemberPublic]


class ShareCreate(Input):
    """Share the patient with an EMR interface account (``ClinicRole.integration``)."""

    user_id: int = Field(gt=0, lt=2**31)


class SharePublic(Public):
    user_id: int
    display_name: str
    shared_at: datetime
