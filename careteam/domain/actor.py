"""Who is acting, and from where: passed to every domain function."""

from __future__ import annotations

from dataclasses import dataclass

from careteam.codes import ClinicRole, Discipline
from careteam.store.tables import User


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

    @property
    def is_admin(self) -> bool:
        return self.role is ClinicRole.admin

    @property
    def may_create_patients(self) -> bool:
        return self.is_admin or self.discipline is Discipline.ipm_lead


def actor_of(
    user: User, *, session_id: str | None = None, request_id: str | None = None, client_ip: str | None = None
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
    )
