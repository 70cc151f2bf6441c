"""Conversations' input and output shapes."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import ConfigDict, Field, StringConstraints, field_validator

from careteam.conversations.codes import PARTICIPANTS_MAX, SUBJECT_MAX
from careteam.core.schemas import Input, Public, UserId
from careteam.messaging.schemas import AuthorPublic, MessageBase

Subject = Annotated[str, StringConstraints(strip_whitespace=True, max_length=SUBJECT_MAX)]

PatientId = Annotated[int, Field(gt=0, lt=2**31)]

_EXAMPLE_BODY = "Block done, **70% relief at 30 min**: could you start the hourly diary with her today?"


class ConversationCreate(MessageBase):
    """Start a conversation with other clinicians (``participants``, by id; you are in it anyway), with its
    first message in Markdown. With ``patient_id`` it is about a patient on your care team, and everyone in
    it must be on her team too; it is then readable only by those of them still on it."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "participants": [7],
                    "subject": "Ellen Marsh after the MBB",
                    "patient_id": 3,
                    "body": _EXAMPLE_BODY,
                },
                {"participants": [5, 9], "body": "Who covers the PDMP checks while Sam is away?"},
            ]
        },
    )

    participants: list[UserId] = Field(min_length=1, max_length=PARTICIPANTS_MAX)
    subject: Subject | None = None
    patient_id: PatientId | None = None

    @field_validator("subject")
    @classmethod
    def _none_if_empty(cls, subject: str | None) -> str | None:
        return subject or None


class ConversationMessageCreate(MessageBase):
    """A message in Markdown (no raw HTML, no images)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"body": _EXAMPLE_BODY}]})


class ConversationMessageUpdate(MessageBase):
    """The message's new text; its earlier text is kept as a revision."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"body": _EXAMPLE_BODY}]})


class ConversationRead(Input):
    """Mark the conversation read up to a message (``up_to``; none: its newest). A position never moves
    back, and never past the newest message."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"up_to": 12}]})

    up_to: int | None = Field(default=None, gt=0, lt=2**31)


class ConversationMessagePublic(Public):
    """A message of a conversation. A removed one (``deleted``) shows no body or html."""

    model_config = ConfigDict(
        from_attributes=True,
        json_schema_extra={
            "examples": [
                {
                    "id": 12,
                    "conversation_id": 4,
                    "body": _EXAMPLE_BODY,
                    "html": "<p>Block done, <strong>70% relief at 30 min</strong>: could you start the "
                    "hourly diary with her today?</p>\n",
                    "author": {"id": 5, "display_name": "Sam Okafor"},
                    "created_at": "2026-12-01T09:00:00Z",
                    "edited_at": None,
                    "deleted": False,
                    "version": 1,
                }
            ]
        },
    )

    id: int
    conversation_id: int
    body: str
    html: str
    author: AuthorPublic
    created_at: datetime
    edited_at: datetime | None
    deleted: bool
    version: int


class ParticipantPublic(Public):
    """A participant and how far she has read (``last_read_id``: every message up to it; 0: none)."""

    id: int
    display_name: str
    last_read_id: int


class ConversationPatientPublic(Public):
    id: int
    name: str


class ConversationPublic(Public):
    """A conversation as a participant sees it: who is in it, the patient it is about (or null), its newest
    message (``last_message``) and how many messages of the others she has not read (``unread_count``).
    Right after it is started, ``last_message`` is its first message."""

    model_config = ConfigDict(
        from_attributes=True,
        json_schema_extra={
            "examples": [
                {
                    "id": 4,
                    "subject": "Ellen Marsh after the MBB",
                    "patient": {"id": 3, "name": "Ellen Marsh"},
                    "created_by": 5,
                    "created_at": "2026-12-01T09:00:00Z",
                    "participants": [
                        {"id": 5, "display_name": "Sam Okafor", "last_read_id": 12},
                        {"id": 7, "display_name": "Dana Reyes", "last_read_id": 0},
                    ],
                    "last_message": None,
                    "unread_count": 0,
                }
            ]
        },
    )

    id: int
    subject: str | None
    patient: ConversationPatientPublic | None
    created_by: int
    created_at: datetime
    participants: list[ParticipantPublic]
    last_message: ConversationMessagePublic | None
    unread_count: int


class ConversationsPublic(Public):
    """A page of her conversations, latest activity first; ``next_before`` asks for the page after this one
    (null: no more)."""

    items: list[ConversationPublic]
    next_before: int | None


class ConversationMessagesPublic(Public):
    """A page of a conversation. Without a cursor or with ``before``: newest first, and ``next_before`` asks
    for the page older than this one. With ``after``: oldest first, and ``next_after`` the page newer than
    this one. Each is null when there is no more."""

    items: list[ConversationMessagePublic]
    next_before: int | None
    next_after: int | None


class ConversationReadPublic(Public):
    """Her position in the conversation after marking it read, and her unread counts over all her
    conversations (``conversations``). No field is called ``unread``: the header's notification badge reads
    that name from her stream's events."""

    conversation_id: int
    last_read_id: int
    conversations: int


class MessagesUnreadTotal(Public):
    """The header's Messages badge: unread messages in the plans' threads (``threads``) and in her
    conversations (``conversations``), and their sum (``total``)."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"total": 3, "threads": 2, "conversations": 1}]}
    )

    total: int
    threads: int
    conversations: int
