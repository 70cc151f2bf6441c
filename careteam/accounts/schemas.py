"""Accounts' input and output shapes: ``UserCreate / UserUpdate / UserPublic``."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import (
    Field,
    StringConstraints,
)

from careteam.accounts.sessions import handle_of
from careteam.accounts.tables import AuthSession
from careteam.core.schemas import DisplayName, Input, Public
from careteam.core.vocab import ClinicRole, Discipline

Username = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=2, max_length=64, pattern=r"^[a-z0-9_.-]+$")
]

Password = Annotated[str, StringConstraints(min_length=8, max_length=256)]


class UserCreate(Input):
    username: Username
    display_name: DisplayName
    discipline: Discipline
    role: ClinicRole = ClinicRole.clinician
    password: Password


class UserUpdate(Input):
    display_name: DisplayName | None = None
    discipline: Discipline | None = None
    role: ClinicRole | None = None
    active: bool | None = None
    password: Password | None = None


class UserPublic(Public):
    id: int
    username: str
    display_name: str
    discipline: Discipline
    role: ClinicRole
    active: bool
    # Signs in with the temporary password of an administrator's reset: must choose her own first.
    temporary_credentials: bool = Field(default=False, validation_alias="must_change_password")


class PasswordResetPublic(Public):
    """The answer to an administrator's reset: the temporary password, shown this once (only its hash is
    kept). She must change it at her next sign-in."""

    user: UserPublic
    temporary_password: str


class PasswordChange(Input):
    current_password: Annotated[str, StringConstraints(min_length=1, max_length=256)]
    new_password: Password


class SessionPublic(Public):
    """One of her browser sessions or API tokens. ``id`` is its handle (never the secret); ``last_used_at``
    is kept to the minute; ``client_ip`` is the address it was opened from."""

    id: str
    kind: Literal["browser", "token"]
    created_at: datetime
    last_used_at: datetime
    expires_at: datetime
    client_ip: str | None
    # The session or token this request came with.
    current: bool

    @classmethod
    def of(cls, record: AuthSession, *, current_id: str | None) -> SessionPublic:
        return cls(
            id=handle_of(record.id),
            kind="browser" if record.kind == "cookie" else "token",
            created_at=record.created_at,
            last_used_at=record.last_seen_at,
            expires_at=record.expires_at,
            client_ip=record.client_ip,
            current=record.id == current_id,
        )


class SessionsPublic(Public):
    items: list[SessionPublic]
