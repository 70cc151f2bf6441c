"""The event log's output shapes (``GET /plans/{id}/events``)."""

from __future__ import annotations

from datetime import datetime

from pydantic import (
    BaseModel,
)

from careteam.core.schemas import Public


class EventPublic(Public):
    plan_id: int
    seq: int
    kind: str
    data: dict[str, object]
    actor_id: int | None
    at: datetime


class EventsPublic(BaseModel):
    items: list[EventPublic]
    last_seq: int
    resync: bool = False
