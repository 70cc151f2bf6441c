"""Conversations' tables: the conversation, who is in it (and how far each has read), its messages and
each edit's earlier text."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from careteam.conversations.codes import SUBJECT_MAX
from careteam.db.types import UTCDateTime, now_column, utcnow


class Conversation(SQLModel, table=True):
    """A direct conversation between clinicians (``conversation_member``). With ``patient_id`` it is about a
    patient they share: only its members who are on her care team now read it. ``last_message_id`` (its
    newest message) orders a clinician's conversations by their latest activity."""

    __table_args__ = (sa.Index("ix_conversation_last_message_id", "last_message_id", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    subject: str | None = Field(default=None, max_length=SUBJECT_MAX)
    patient_id: int | None = Field(default=None, foreign_key="patient.id", index=True)
    created_by: int = Field(foreign_key="user_account.id")
    created_at: datetime = Field(default_factory=utcnow, sa_column=now_column())
    last_message_id: int | None = None


class ConversationMember(SQLModel, table=True):
    """A participant, and how far she has read: every message with ``id <= last_read_id`` is read (the
    position only moves forward)."""

    __tablename__ = "conversation_member"
    __table_args__ = (
        sa.UniqueConstraint("conversation_id", "user_id"),
        # Her conversations.
        sa.Index("ix_conversation_member_user", "user_id", "conversation_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    conversation_id: int = Field(foreign_key="conversation.id")
    user_id: int = Field(foreign_key="user_account.id")
    last_read_id: int = 0
    joined_at: datetime = Field(default_factory=utcnow, sa_column=now_column())


class ConversationMessage(SQLModel, table=True):
    """A message in a conversation: ``body`` the Markdown as written, ``html`` its sanitised rendering
    (``messaging.render.render``). A removed message keeps its row (``deleted_at``, ``deleted_by``)."""

    __tablename__ = "conversation_message"
    __table_args__ = (sa.Index("ix_conversation_message_thread", "conversation_id", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    conversation_id: int = Field(foreign_key="conversation.id")
    author_id: int = Field(foreign_key="user_account.id", index=True)
    body: str = Field(sa_column=sa.Column(sa.Text(), nullable=False))
    html: str = Field(sa_column=sa.Column(sa.Text(), nullable=False))
    version: int = 1
    created_at: datetime = Field(default_factory=utcnow, sa_column=now_column())
    edited_at: datetime | None = Field(default=None, sa_column=sa.Column(UTCDateTime(), nullable=True))
    deleted_at: datetime | None = Field(default=None, sa_column=sa.Column(UTCDateTime(), nullable=True))
    deleted_by: int | None = Field(default=None, foreign_key="user_account.id")


class ConversationMessageRevision(SQLModel, table=True):
    """A conversation message's text at ``version``, as it was until ``editor_id`` replaced it."""

    __tablename__ = "conversation_message_revision"
    __table_args__ = (sa.UniqueConstraint("message_id", "version"),)

    id: int | None = Field(default=None, primary_key=True)
    message_id: int = Field(foreign_key="conversation_message.id", index=True)
    version: int
    body: str = Field(sa_column=sa.Column(sa.Text(), nullable=False))
    edited_at: datetime = Field(default_factory=utcnow, sa_column=now_column())
    editor_id: int = Field(foreign_key="user_account.id")
