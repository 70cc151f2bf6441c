"""Notifications' shapes: ``NotificationPublic / NotificationsPublic`` out, ``MarkRead`` in."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import ConfigDict, Field, ValidationInfo, field_validator
from pydantic.config import JsonDict

from careteam.core.schemas import Input, Public, UserId
from careteam.notifications.codes import NotificationKind

MARK_READ_MAX = 500

_EXAMPLE: JsonDict = {
    "id": 81,
    "kind": "task.assigned",
    "title": "Assigned to you: UDS due — Ellen Marsh",
    "body": "",
    "link": "/plans/4#task-17",
    "patient_id": 3,
    "plan_id": 4,
    "task_id": 17,
    "referral_id": None,
    "actor_id": 2,
    "created_at": "2026-12-01T09:30:00Z",
    "read_at": None,
}


class NotificationPublic(Public):
    model_config = ConfigDict(from_attributes=True, json_schema_extra={"examples": [_EXAMPLE]})

    id: int
    kind: NotificationKind
    title: str
    body: str
    link: str  # site-relative: "/plans/4#task-17", "/referrals/3"
    patient_id: int | None
    plan_id: int | None
    task_id: int | None
    referral_id: int | None
    actor_id: int | None
    created_at: datetime
    read_at: datetime | None


class NotificationsPublic(Public):
    """A page of the inbox, newest first, and how many of all her notifications are unread."""

    model_config = ConfigDict(
        from_attributes=True,
        json_schema_extra={
            "examples": [{"items": [_EXAMPLE], "total": 1, "offset": 0, "limit": 50, "unread": 1}]
        },
    )

    items: list[NotificationPublic]
    total: int
    offset: int
    limit: int
    unread: int


class MarkRead(Input):
    """Mark some of her notifications read (``ids``), or every one (``all: true``); exactly one of the two."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"ids": [81, 80]}, {"all": True}]}
    )

    ids: Annotated[list[UserId], Field(min_length=1, max_length=MARK_READ_MAX)] | None = None
    all: Annotated[bool, Field(validate_default=True)] = False

    @field_validator("all")
    @classmethod
    def _exactly_one(cls, value: bool, info: ValidationInfo) -> bool:
        has_ids = info.data.get("ids") is not None
        if value and has_ids:
            raise ValueError("send either ids or all: true, not both")
        if not value and not has_ids and "ids" in info.data:
            raise ValueError("send ids (the notifications to mark read) or all: true")
        return value


class UnreadPublic(Public):
    model_config = ConfigDict(from_attributes=True, json_schema_extra={"examples": [{"unread": 3}]})

    unread: int
