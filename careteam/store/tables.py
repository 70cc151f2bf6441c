"""The tables. One class per table; columns only, no behaviour beyond defaults."""

from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from careteam.store.types import UTCDateTime, utcnow

# Stable constraint names, so Alembic can alter and drop them on every backend.
SQLModel.metadata.naming_convention = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def _now_column() -> sa.Column[datetime]:
    return sa.Column(UTCDateTime(), nullable=False)


class User(SQLModel, table=True):
    __tablename__ = "user_account"

    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(max_length=64, unique=True)
    display_name: str = Field(max_length=120)
    discipline: str = Field(max_length=32)
    role: str = Field(max_length=16, default="clinician")
    password_hash: str = Field(max_length=255)
    active: bool = True
    version: int = 1
    created_at: datetime = Field(default_factory=utcnow, sa_column=_now_column())


class AuthSession(SQLModel, table=True):
    """A browser session (cookie) or an API bearer token; only the SHA-256 of the secret is stored."""

    __tablename__ = "auth_session"

    id: str = Field(primary_key=True, max_length=64)
    user_id: int = Field(foreign_key="user_account.id", index=True, ondelete="CASCADE")
    kind: str = Field(max_length=8)  # "cookie" | "bearer"
    csrf_token: str = Field(max_length=64)
    created_at: datetime = Field(default_factory=utcnow, sa_column=_now_column())
    last_seen_at: datetime = Field(default_factory=utcnow, sa_column=_now_column())
    expires_at: datetime = Field(sa_column=_now_column())


class LoginAttempt(SQLModel, table=True):
    __tablename__ = "login_attempt"
    __table_args__ = (sa.Index("ix_login_attempt_username_at", "username", "at"),)

    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(max_length=64)
    succeeded: bool
    at: datetime = Field(default_factory=utcnow, sa_column=_now_column())


class Patient(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    mrn: str = Field(max_length=32, unique=True)
    name: str = Field(max_length=200)
    birth_date: date
    version: int = 1
    created_at: datetime = Field(default_factory=utcnow, sa_column=_now_column())


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
    added_at: datetime = Field(default_factory=utcnow, sa_column=_now_column())


class AuditEntry(SQLModel, table=True):
    __tablename__ = "audit_entry"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(
        default_factory=utcnow, sa_column=sa.Column(UTCDateTime(), nullable=False, index=True)
    )
    user_id: int | None = Field(default=None, foreign_key="user_account.id", index=True)
    action: str = Field(max_length=16)
    patient_id: int | None = Field(default=None, foreign_key="patient.id", index=True)
    resource_type: str = Field(max_length=32)
    resource_id: str | None = Field(default=None, max_length=64)
    outcome: str = Field(max_length=16, default="success")
    request_id: str | None = Field(default=None, max_length=64)
    client_ip: str | None = Field(default=None, max_length=64)


class CarePlan(SQLModel, table=True):
    """The board. ``last_seq`` is the seq of the plan's newest event: the next event takes last_seq + 1."""

    __tablename__ = "care_plan"

    id: int | None = Field(default=None, primary_key=True)
    patient_id: int = Field(foreign_key="patient.id", index=True)
    title: str = Field(max_length=200)
    description: str = Field(default="", max_length=4000)
    status: str = Field(max_length=24, default="active")
    period_start: date | None = None
    period_end: date | None = None
    version: int = 1
    last_seq: int = 0
    created_at: datetime = Field(default_factory=utcnow, sa_column=_now_column())
    updated_at: datetime = Field(default_factory=utcnow, sa_column=_now_column())


class Goal(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    plan_id: int = Field(foreign_key="care_plan.id", index=True)
    description: str = Field(max_length=500)
    target: str = Field(default="", max_length=200)
    lifecycle_status: str = Field(max_length=24, default="active")
    version: int = 1
    created_at: datetime = Field(default_factory=utcnow, sa_column=_now_column())


class Task(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    plan_id: int = Field(foreign_key="care_plan.id", index=True)
    title: str = Field(max_length=200)
    description: str = Field(default="", max_length=4000)
    discipline: str = Field(max_length=32)
    assignee_id: int | None = Field(default=None, foreign_key="user_account.id")
    status: str = Field(max_length=24, default="requested")
    priority: str = Field(max_length=8, default="routine")
    due_date: date | None = None
    # A sort key within the column: a move between two cards takes the midpoint, touching one row only.
    position: float = 0.0
    checklist: list[dict[str, object]] = Field(
        default_factory=list, sa_column=sa.Column(sa.JSON, nullable=False)
    )
    version: int = 1
    created_at: datetime = Field(default_factory=utcnow, sa_column=_now_column())
    updated_at: datetime = Field(default_factory=utcnow, sa_column=_now_column())


class PlanEvent(SQLModel, table=True):
    """The durable change log: gapless ``seq`` per plan, written in the transaction of the change."""

    __tablename__ = "plan_event"
    __table_args__ = (sa.UniqueConstraint("plan_id", "seq", name="uq_plan_event_plan_seq"),)

    id: int | None = Field(default=None, primary_key=True)
    plan_id: int = Field(foreign_key="care_plan.id")
    seq: int
    kind: str = Field(max_length=32)
    data: dict[str, object] = Field(default_factory=dict, sa_column=sa.Column(sa.JSON, nullable=False))
    actor_id: int | None = Field(default=None, foreign_key="user_account.id")
    at: datetime = Field(default_factory=utcnow, sa_column=_now_column())


class IdempotencyRecord(SQLModel, table=True):
    """The first answer to a POST with an Idempotency-Key, replayed to its retries."""

    __tablename__ = "idempotency_record"

    user_id: int = Field(foreign_key="user_account.id", primary_key=True)
    key: str = Field(max_length=128, primary_key=True)
    fingerprint: str = Field(max_length=64)
    status_code: int
    body: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_column=_now_column())
