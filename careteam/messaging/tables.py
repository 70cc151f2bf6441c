"""Messaging's tables: messages (FHIR Communication) and each edit's earlier text."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from careteam.db.types import UTCDateTime, now_column, utcnow


class Message(SQLModel, table=True):
    """A message in a plan's team thread (``task_id`` None) or a task's comment thread.

    ``patient_id`` is the plan's patient, kept here so that filters need no join. ``body`` is the Markdown
    as written, ``html`` its sanitised rendering (``render.render``), ``mentions`` the care team members it
    reached. A removed message keeps its row (``deleted_at``, ``deleted_by``); readers see it as removed.
    """

    __table_args__ = (
        # A plan's team thread, and a task's comments, newest first by id.
        sa.Index("ix_message_plan_thread", "plan_id", "task_id", "id"),
        sa.Index("ix_message_task_thread", "task_id", "id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    plan_id: int = Field(foreign_key="care_plan.id")
    task_id: int | None = Field(default=None, foreign_key="task.id")
    patient_id: int = Field(foreign_key="patient.id", index=True)
    author_id: int = Field(foreign_key="user_account.id", index=True)
    body: str = Field(sa_column=sa.Column(sa.Text(), nullable=False))
    html: str = Field(sa_column=sa.Column(sa.Text(), nullable=False))
    mentions: list[int] = Field(default_factory=list, sa_column=sa.Column(sa.JSON, nullable=False))
    version: int = 1
    created_at: datetime = Field(default_factory=utcnow, sa_column=now_column())
    edited_at: datetime | None = Field(default=None, sa_column=sa.Column(UTCDateTime(), nullable=True))
    deleted_at: datetime | None = Field(default=None, sa_column=sa.Column(UTCDateTime(), nullable=True))
    deleted_by: int | None = Field(default=None, foreign_key="user_account.id")


class MessageRevision(SQLModel, table=True):
    """A message's text at ``version``, as it was until ``editor_id`` replaced it at ``edited_at``."""

    __tablename__ = "message_revision"
    __table_args__ = (sa.UniqueConstraint("message_id", "version"),)

    id: int | None = Field(default=None, primary_key=True)
    message_id: int = Field(foreign_key="message.id", index=True)
    version: int
    body: str = Field(sa_column=sa.Column(sa.Text(), nullable=False))
    edited_at: datetime = Field(default_factory=utcnow, sa_column=now_column())
    editor_id: int = Field(foreign_key="user_account.id")


def thread_key(plan_id: int, task_id: int | None) -> str:
    """A thread's name: ``plan:4`` (the plan's team thread) or ``task:17`` (a task's comments)."""
    return f"task:{task_id}" if task_id is not None else f"plan:{plan_id}"


class MessageRead(SQLModel, table=True):
    """How far a clinician has read one thread: every message with ``id <= last_read_id`` is read.

    A thread is ``(plan_id, task_id or none)``; ``thread`` names it (``thread_key``) so that the unique
    constraint holds for the plan's thread too (NULLs never collide). The position only moves forward.
    """

    __tablename__ = "message_read"
    __table_args__ = (
        sa.UniqueConstraint("user_id", "thread"),
        # "Seen by": who has read a thread at or past a message.
        sa.Index("ix_message_read_thread", "thread", "last_read_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="user_account.id")
    plan_id: int = Field(foreign_key="care_plan.id", index=True)
    task_id: int | None = Field(default=None, foreign_key="task.id")
    thread: str = Field(sa_column=sa.Column(sa.String(40), nullable=False))
    last_read_id: int
    read_at: datetime = Field(default_factory=utcnow, sa_column=now_column())


class MessageAckRequired(SQLModel, table=True):
    """Who must acknowledge an urgent message: one clinician (``user_id``) or a discipline of the care team
    (``discipline``), each of its members (``mode`` "each") or any one of them ("any").

    Resolved against the care team as it is when read: a clinician taken off the team is no longer asked
    (she no longer sees the message), one who joins in a named discipline is.
    """

    __tablename__ = "message_ack_required"
    __table_args__ = (
        sa.CheckConstraint("(user_id IS NULL) <> (discipline IS NULL)", name="user_or_discipline"),
        sa.CheckConstraint(
            "mode IN ('each', 'any') AND (mode = 'each' OR discipline IS NOT NULL)", name="mode"
        ),
        sa.UniqueConstraint("message_id", "user_id", name="uq_message_ack_required_user"),
        sa.UniqueConstraint("message_id", "discipline", name="uq_message_ack_required_discipline"),
        # My work: the urgent messages naming her.
        sa.Index("ix_message_ack_required_user", "user_id", "message_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    message_id: int = Field(foreign_key="message.id", index=True)
    user_id: int | None = Field(default=None, foreign_key="user_account.id")
    discipline: str | None = Field(default=None, max_length=32)
    mode: str = Field(default="each", max_length=8)


class MessageAck(SQLModel, table=True):
    """A clinician's acknowledgement of an urgent message, once (``at``: when)."""

    __tablename__ = "message_ack"
    __table_args__ = (sa.UniqueConstraint("message_id", "user_id"),)

    id: int | None = Field(default=None, primary_key=True)
    message_id: int = Field(foreign_key="message.id", index=True)
    user_id: int = Field(foreign_key="user_account.id")
    at: datetime = Field(default_factory=utcnow, sa_column=now_column())
