"""Messaging's input and output shapes."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import ConfigDict, Field, StringConstraints, field_validator, model_validator

from careteam.core.schemas import Input, Public, Title
from careteam.core.vocab import Discipline
from careteam.messaging.codes import BODY_MAX, URGENT_MAX

# Not stripped: leading spaces are Markdown (an indented code block).
Body = Annotated[str, StringConstraints(min_length=1, max_length=BODY_MAX)]

_EXAMPLE_BODY = "@psychology sleep diary uploaded, **worse nights after PT days**"


class MessageBase(Input):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"body": _EXAMPLE_BODY}]})

    body: Body

    @field_validator("body")
    @classmethod
    def _not_blank(cls, body: str) -> str:
        if not body.strip():
            raise ValueError("a message needs some text")
        return body


UserId = Annotated[int, Field(gt=0, lt=2**31)]


class UrgentCreate(Input):
    """Who must acknowledge the message: care team members by id, and/or disciplines of the care team (each
    of its members, or with ``any_of_discipline`` any one of them). Never its author."""

    users: list[UserId] = Field(default=[], max_length=URGENT_MAX)
    disciplines: list[Discipline] = Field(default=[], max_length=len(Discipline))
    any_of_discipline: bool = False

    @model_validator(mode="after")
    def _someone(self) -> UrgentCreate:
        if not self.users and not self.disciplines:
            raise ValueError("name at least one clinician or discipline who must acknowledge")
        return self


class MessageCreate(MessageBase):
    """A message in Markdown (no raw HTML, no images); ``@username``, ``@psychology`` (a discipline) or
    ``@team`` reaches those on the plan's care team. With ``urgent``: those named must acknowledge it, and it
    stays at the top of their "My work" until they do."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"body": _EXAMPLE_BODY},
                {
                    "body": "Hold apixaban from Monday for Thursday's procedure",
                    "urgent": {"users": [], "disciplines": ["physician", "nurse"], "any_of_discipline": True},
                },
            ]
        },
    )

    urgent: UrgentCreate | None = None


class MessageTaskCreate(Input):
    """Make a task of a message. ``title`` defaults to the message's first line without Markdown markers
    (cut to 200 characters); ``discipline`` (the lane) to the author's on the care team, else yours."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{}, {"title": "Review the sleep diary", "discipline": "psychologist"}]
        },
    )

    title: Title | None = None
    discipline: Discipline | None = None


class MessageUpdate(MessageBase):
    """The message's new text; its earlier text is kept as a revision."""


class AuthorPublic(Public):
    id: int
    display_name: str


class UrgentPublic(Public):
    """Who must acknowledge an urgent message, as its author named them, and ``waiting_for``: the care team
    members who may still acknowledge it and are awaited (for "any one of a discipline", each of its members
    until one does)."""

    users: list[int]
    disciplines: list[Discipline]
    any_of_discipline: bool
    waiting_for: list[int]


class AckPublic(Public):
    user_id: int
    display_name: str
    at: datetime


class MessagePublic(Public):
    """A message. A removed one (``deleted``) shows no body, html or mentions. An urgent one has ``urgent``
    (who must acknowledge), ``acks`` (who did, when; oldest first) and ``acknowledged`` (no one is awaited
    any more); any other message: ``urgent`` null, ``acks`` empty and ``acknowledged`` false. ``task_ids``:
    the tasks made from it ("Make this a task"), oldest first."""

    model_config = ConfigDict(
        from_attributes=True,
        json_schema_extra={
            "examples": [
                {
                    "id": 31,
                    "plan_id": 4,
                    "task_id": None,
                    "body": _EXAMPLE_BODY,
                    "html": "<p>@psychology sleep diary uploaded, <strong>worse nights after PT days"
                    "</strong></p>\n",
                    "author": {"id": 5, "display_name": "Sam Okafor"},
                    "mentions": [7],
                    "created_at": "2026-12-01T09:00:00Z",
                    "edited_at": None,
                    "deleted": False,
                    "version": 1,
                    "urgent": None,
                    "acks": [],
                    "acknowledged": False,
                    "task_ids": [],
                }
            ]
        },
    )

    id: int
    plan_id: int
    task_id: int | None
    body: str
    html: str
    author: AuthorPublic
    mentions: list[int]
    created_at: datetime
    edited_at: datetime | None
    deleted: bool
    version: int
    urgent: UrgentPublic | None = None
    acks: list[AckPublic] = []
    acknowledged: bool = False
    task_ids: list[int] = []


class MessagesPublic(Public):
    """A page of a thread. Without a cursor or with ``before``: newest first, and ``next_before`` asks for
    the page older than this one. With ``after``: oldest first, and ``next_after`` the page newer than
    this one. Each is null when there is no more."""

    items: list[MessagePublic]
    next_before: int | None
    next_after: int | None


class MessagesRead(Input):
    """Mark a thread read up to a message (``up_to``; none: its newest). A position never moves back, and
    never past the thread's newest message."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"up_to": 31}]})

    up_to: int | None = Field(default=None, gt=0, lt=2**31)


class MessagesReadAll(Input):
    """Nothing to send (or ``{}``): every thread of her plans is marked read up to its newest message. A
    field (an ``up_to`` meant for one thread) is refused rather than ignored."""


class ThreadReadPublic(Public):
    """Her read position in a thread after marking it read, the thread's messages still unread to her
    (newer than the position, by others, not removed), and her unread total across her threads.

    No field is called ``unread``: this is also the data of ``messages.read`` on her user stream, where the
    header's badge takes ``unread`` from any event as her unread notifications (``inbox.js``)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "thread": "plan:4",
                    "plan_id": 4,
                    "task_id": None,
                    "last_read_id": 31,
                    "thread_unread": 0,
                    "total": 2,
                }
            ]
        }
    )

    thread: str
    plan_id: int
    task_id: int | None
    last_read_id: int
    thread_unread: int
    total: int


class MessagesUnreadPublic(Public):
    """Her unread messages: in all, per plan (its team thread and its tasks' comments together) and per
    task (that task's comments). Keys are ids as strings (JSON); threads with none unread are left out."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"total": 4, "plans": {"4": 3, "9": 1}, "tasks": {"17": 1}}]}
    )

    total: int
    plans: dict[str, int]
    tasks: dict[str, int]


class MessageSeenByPublic(Public):
    user_id: int
    display_name: str
    last_read_id: int
    read_at: datetime


class MessageSeenPublic(Public):
    """The care team members who have read the message's thread at or past it, earliest first."""

    message_id: int
    items: list[MessageSeenByPublic]
