"""Conferences' tables: the conference, who takes part, its agenda items, their decisions, and attendance."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from careteam.db.types import UTCDateTime, now_column, utcnow


def _when(*, nullable: bool) -> sa.Column[datetime]:
    return sa.Column(UTCDateTime(), nullable=nullable)


class Conference(SQLModel, table=True):
    """A scheduled review of plans. ``team`` names the group that meets (e.g. "Spine MDT"): items not reached
    roll over to its next conference. ``access_from`` .. ``access_until`` is the window in which its agenda's
    plans are lent, read-only, to participants off their care teams (from 30 minutes before the start to the
    planned end plus 30 minutes; ending the conference closes it)."""

    __table_args__ = (sa.Index("ix_conference_team_start", "team", "starts_at"),)

    id: int | None = Field(default=None, primary_key=True)
    title: str = Field(max_length=200)
    team: str = Field(max_length=100)
    starts_at: datetime = Field(sa_column=_when(nullable=False))
    duration_minutes: int = 60
    facilitator_id: int = Field(foreign_key="user_account.id", index=True)
    status: str = Field(max_length=16, default="scheduled")
    current_item_id: int | None = None
    started_at: datetime | None = Field(default=None, sa_column=_when(nullable=True))
    ended_at: datetime | None = Field(default=None, sa_column=_when(nullable=True))
    access_from: datetime = Field(sa_column=_when(nullable=False))
    access_until: datetime = Field(sa_column=_when(nullable=False))
    created_by_id: int = Field(foreign_key="user_account.id")
    version: int = 1
    created_at: datetime = Field(default_factory=utcnow, sa_column=now_column())
    updated_at: datetime = Field(default_factory=utcnow, sa_column=now_column())


class ConferenceMember(SQLModel, table=True):
    """Who is invited, and how: facilitator, attendee or observer (one row per person)."""

    __tablename__ = "conference_member"

    conference_id: int = Field(foreign_key="conference.id", primary_key=True, ondelete="CASCADE")
    user_id: int = Field(foreign_key="user_account.id", primary_key=True, index=True)
    role: str = Field(max_length=16)


class ConferenceItem(SQLModel, table=True):
    """A plan on the agenda, with why it is presented and who presents it. ``patient_id`` is the plan's
    patient (for audit entries without a join); ``carried_from_id`` the item of an earlier conference it
    rolled over from."""

    __tablename__ = "conference_item"
    __table_args__ = (sa.UniqueConstraint("conference_id", "plan_id", name="uq_conference_item_plan"),)

    id: int | None = Field(default=None, primary_key=True)
    conference_id: int = Field(foreign_key="conference.id", index=True, ondelete="CASCADE")
    plan_id: int = Field(foreign_key="care_plan.id", index=True)
    patient_id: int = Field(foreign_key="patient.id", index=True)
    position: int
    reason: str = Field(max_length=300)
    presenter_id: int | None = Field(default=None, foreign_key="user_account.id")
    status: str = Field(max_length=16, default="pending")
    minutes: str = Field(default="", max_length=10000)
    carried_from_id: int | None = Field(default=None, foreign_key="conference_item.id")
    rolled_over: bool = False
    version: int = 1


class ConferenceDecision(SQLModel, table=True):
    """A decision recorded on an item; the task or referral it made is linked by id (theirs to own)."""

    __tablename__ = "conference_decision"

    id: int | None = Field(default=None, primary_key=True)
    conference_id: int = Field(foreign_key="conference.id", index=True, ondelete="CASCADE")
    item_id: int = Field(foreign_key="conference_item.id", index=True, ondelete="CASCADE")
    text: str = Field(max_length=1000)
    kind: str = Field(max_length=16, default="note")
    task_id: int | None = Field(default=None, foreign_key="task.id")
    referral_id: int | None = Field(default=None, foreign_key="referral.id")
    author_id: int = Field(foreign_key="user_account.id")
    created_at: datetime = Field(default_factory=utcnow, sa_column=now_column())


class ConferenceAttendance(SQLModel, table=True):
    """Who joined, when first, when last seen (the room's heartbeat), and when she left (closed the room)."""

    __tablename__ = "conference_attendance"

    conference_id: int = Field(foreign_key="conference.id", primary_key=True, ondelete="CASCADE")
    user_id: int = Field(foreign_key="user_account.id", primary_key=True)
    joined_at: datetime = Field(sa_column=_when(nullable=False))
    last_seen_at: datetime = Field(sa_column=_when(nullable=False))
    left_at: datetime | None = Field(default=None, sa_column=_when(nullable=True))


class ItemAttendance(SQLModel, table=True):
    """Who was in the room while an item was on screen (first seen then)."""

    __tablename__ = "conference_item_attendance"

    item_id: int = Field(foreign_key="conference_item.id", primary_key=True, ondelete="CASCADE")
    user_id: int = Field(foreign_key="user_account.id", primary_key=True)
    conference_id: int = Field(foreign_key="conference.id", index=True, ondelete="CASCADE")
    seen_at: datetime = Field(sa_column=_when(nullable=False))
