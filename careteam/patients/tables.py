"""Patients' tables: patients (minimal PHI), care teams and their members."""

from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from careteam.db.types import now_column, utcnow


class Patient(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    mrn: str = Field(max_length=32, unique=True)
    name: str = Field(max_length=200)
    birth_date: date
    version: int = 1
    created_at: datetime = Field(default_factory=utcnow, sa_column=now_column())


class CareTeam(SQLModel, table=True):
    __tablename__ = "care_team"

    id: int | None = Field(default=None, primary_key=True)
    patient_id: int = Field(foreign_key="patient.id", unique=True)
    name: str = Field(max_length=200)
    status: str = Field(max_length=24, default="active")
    version: int = 1


class CareTeamMember(SQLModel, table=True):
    __tablename__ = "care_team_member"
    __table_args__ = (sa.UniqueConstraint("team_id", "user_id", name="uq_care_team_member_team_user"),)

    id: int | None = Field(default=None, primary_key=True)
    team_id: int = Field(foreign_key="care_team.id", index=True, ondelete="CASCADE")
    user_id: int = Field(foreign_key="user_account.id", index=True)
    role: str = Field(max_length=16, default="member")
    discipline: str = Field(max_length=32)
    added_at: datetime = Field(default_factory=utcnow, sa_column=now_column())


class PatientShare(SQLModel, table=True):
    """A patient an EMR interface account may work on (through FHIR): one it registered, or one a manager
    of her care team shared with it. Not a care team membership: the account is nobody's colleague."""

    __tablename__ = "patient_share"
    __table_args__ = (sa.UniqueConstraint("patient_id", "user_id", name="uq_patient_share_patient_user"),)

    id: int | None = Field(default=None, primary_key=True)
    patient_id: int = Field(foreign_key="patient.id", index=True)
    user_id: int = Field(foreign_key="user_account.id", index=True)
    shared_by_id: int = Field(foreign_key="user_account.id")
    shared_at: datetime = Field(default_factory=utcnow, sa_column=now_column())
