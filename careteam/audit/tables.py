"""Audit's table: one entry per read or change of patient data, in the same transaction as the work."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from careteam.db.types import UTCDateTime, utcnow


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
