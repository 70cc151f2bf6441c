"""Referrals' table: one row per referral (FHIR ServiceRequest), with its clocks."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from careteam.db.types import UTCDateTime, now_column, utcnow


class Referral(SQLModel, table=True):
    """``patient_id`` is the plan's patient, kept here so that access filters need no join.

    ``assignee_id`` names a clinician (then she alone may answer); without one the referral goes to the
    discipline's pool, and ``claimed_by_id`` is the one clinician who took it. ``phase_since`` and
    ``phase_seconds`` are the clocks: when the current phase began, and the seconds spent in each earlier one.
    """

    __table_args__ = (
        sa.Index("ix_referral_pool", "discipline", "status"),
        sa.Index("ix_referral_due", "status", "respond_by"),
        # The EMR's own id of a referral it sent (FHIR ServiceRequest.identifier): a retried message finds it.
        sa.UniqueConstraint("identifier_system", "identifier_value", name="uq_referral_identifier"),
    )

    id: int | None = Field(default=None, primary_key=True)
    plan_id: int = Field(foreign_key="care_plan.id", index=True)
    patient_id: int = Field(foreign_key="patient.id", index=True)
    requester_id: int = Field(foreign_key="user_account.id", index=True)
    discipline: str = Field(max_length=32)
    assignee_id: int | None = Field(default=None, foreign_key="user_account.id", index=True)
    claimed_by_id: int | None = Field(default=None, foreign_key="user_account.id", index=True)
    reason: str = Field(max_length=500)
    reason_code: str | None = Field(default=None, max_length=40)
    priority: str = Field(max_length=8, default="routine")
    respond_by: datetime = Field(sa_column=sa.Column(UTCDateTime(), nullable=False))
    status: str = Field(max_length=24, default="active")
    answer: str | None = Field(default=None, max_length=16)
    decline_reason: str | None = Field(default=None, max_length=1000)
    outcome: str | None = Field(default=None, max_length=4000)
    revoke_reason: str | None = Field(default=None, max_length=1000)
    # When the overdue escalation ran for it (once per referral; cleared when respond-by moves).
    escalated_at: datetime | None = Field(default=None, sa_column=sa.Column(UTCDateTime(), nullable=True))
    phase_since: datetime = Field(default_factory=utcnow, sa_column=now_column())
    phase_seconds: dict[str, float] = Field(
        default_factory=dict, sa_column=sa.Column(sa.JSON, nullable=False)
    )
    identifier_system: str | None = Field(default=None, max_length=200)
    identifier_value: str | None = Field(default=None, max_length=100)
    version: int = 1
    created_at: datetime = Field(default_factory=utcnow, sa_column=now_column())
    updated_at: datetime = Field(default_factory=utcnow, sa_column=now_column())
