"""The web edge's table: idempotency keys and the first answer given to them."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from careteam.db.types import now_column, utcnow


class IdempotencyRecord(SQLModel, table=True):
    """The first answer to a POST with an Idempotency-Key, replayed to its retries."""

    __tablename__ = "idempotency_record"

    user_id: int = Field(foreign_key="user_account.id", primary_key=True)
    key: str = Field(max_length=128, primary_key=True)
    fingerprint: str = Field(max_length=64)
    status_code: int
    body: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_column=now_column())
