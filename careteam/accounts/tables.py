"""Accounts' tables: users, their sessions (hashed secrets) and sign-in attempts."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from careteam.db.types import now_column, utcnow


class User(SQLModel, table=True):
    __tablename__ = "user_account"

    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(max_length=64, unique=True)
    display_name: str = Field(max_length=120)
    discipline: str = Field(max_length=32)
    role: str = Field(max_length=16, default="clinician")
    password_hash: str = Field(max_length=255)
    active: bool = True
    # Set by an administrator's password reset: until she chooses her own, she may only change it.
    must_change_password: bool = Field(default=False, sa_column_kwargs={"server_default": sa.false()})
    version: int = 1
    created_at: datetime = Field(default_factory=utcnow, sa_column=now_column())


class AuthSession(SQLModel, table=True):
    """A browser session (cookie) or an API bearer token; only the SHA-256 of the secret is stored."""

    __tablename__ = "auth_session"

    id: str = Field(primary_key=True, max_length=64)
    user_id: int = Field(foreign_key="user_account.id", index=True, ondelete="CASCADE")
    kind: str = Field(max_length=8)  # "cookie" | "bearer"
    csrf_token: str = Field(max_length=64)
    created_at: datetime = Field(default_factory=utcnow, sa_column=now_column())
    last_seen_at: datetime = Field(default_factory=utcnow, sa_column=now_column())
    expires_at: datetime = Field(sa_column=now_column())
    # The client address it was opened from (the sign-in's), shown in her list of sessions.
    client_ip: str | None = Field(default=None, max_length=64)


class LoginAttempt(SQLModel, table=True):
    """One checked password (throttled attempts check none and are only audited): throttling counts the
    failures per username and client address, and per address across usernames."""

    __tablename__ = "login_attempt"
    __table_args__ = (
        sa.Index("ix_login_attempt_username_client_at", "username", "client", "at"),
        sa.Index("ix_login_attempt_client_at", "client", "at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(max_length=64)
    # The ASGI client host ("" when unknown).
    client: str = Field(default="", max_length=64, sa_column_kwargs={"server_default": ""})
    succeeded: bool
    at: datetime = Field(default_factory=utcnow, sa_column=now_column())
