"""The event log's tables: each stream's newest seq, and the events themselves."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from careteam.db.types import now_column, utcnow
from careteam.events.streams import Stream


class StreamHead(SQLModel, table=True):
    """One row per stream that has had an event: its newest seq; the next event takes last_seq + 1.

    Taking a seq updates this row (``UPDATE ... RETURNING``, or the insert of its first event), which locks
    it to the commit: writers of one stream take their seqs one after the other, so the log has no gap.
    """

    __tablename__ = "stream"

    stream_kind: str = Field(primary_key=True, max_length=16)
    stream_id: int = Field(primary_key=True, sa_type=sa.Integer, sa_column_kwargs={"autoincrement": False})
    last_seq: int = 0


class StreamEvent(SQLModel, table=True):
    """The durable change log: gapless ``seq`` per stream, written in the transaction of the change."""

    __tablename__ = "stream_event"
    __table_args__ = (
        sa.UniqueConstraint("stream_kind", "stream_id", "seq", name="uq_stream_event_stream_seq"),
        sa.Index("ix_stream_event_stream_kind_at", "stream_kind", "at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    stream_kind: str = Field(max_length=16)
    stream_id: int
    seq: int
    kind: str = Field(max_length=32)
    data: dict[str, object] = Field(default_factory=dict, sa_column=sa.Column(sa.JSON, nullable=False))
    actor_id: int | None = Field(default=None, foreign_key="user_account.id")
    at: datetime = Field(default_factory=utcnow, sa_column=now_column())

    @property
    def stream(self) -> Stream:
        return Stream(self.stream_kind, self.stream_id)
