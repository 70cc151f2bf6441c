"""Who is acting, and from where: passed to every domain function."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from careteam.core.vocab import ClinicRole, Discipline


@dataclass(frozen=True, slots=True)
class Actor:
    user_id: int
    username: str
    display_name: str
    discipline: Discipline
    role: ClinicRole
    session_id: str | None = None
    request_id: str | None = None
    client_ip: str | None = None
    # An administrator reset her password: until she chooses her own, she may only do that (web.deps).
    must_change_password: bool = False

    @property
    def is_admin(self) -> bool:
        return self.role is ClinicRole.admin

    @property
    def is_integration(self) -> bool:
        return self.role is ClinicRole.integration

    @property
    def may_create_patients(self) -> bool:
        return self.is_admin or self.is_integration or self.discipline is Discipline.ipm_lead


class UserLike(Protocol):
    """A user account as stored: the ORM row (``store.tables.User``) or a Core row with the same names."""

    @property
    def id(self) -> int | None: ...
    @property
    def username(self) -> str: ...
    @property
    def display_name(self) -> str: ...
    @property
    def discipline(self) -> str: ...
    @property
    def role(self) -> str: ...


def actor_of(
    user: UserLike,
    *,
    session_id: str | None = None,
    request_id: str | None = None,
    client_ip: str | None = None,
) -> Actor:
    return Actor(
        user_id=user.id or 0,
        username=user.username,
        display_name=user.display_name,
        discipline=Discipline(user.discipline),
        role=ClinicRole(user.role),
        session_id=session_id,
        request_id=request_id,
        client_ip=client_ip,
        must_change_password=bool(getattr(user, "must_change_password", False)),
    )
