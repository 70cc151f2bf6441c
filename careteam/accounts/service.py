"""Clinician accounts: created and managed by administrators."""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy import delete, func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from careteam.accounts.passwords import hash_password, verify_password, weak_password_reason
from careteam.accounts.schemas import UserCreate, UserPublic, UserUpdate
from careteam.accounts.tables import AuthSession, User
from careteam.audit import service as audit
from careteam.audit.codes import AuditAction
from careteam.core.actor import Actor
from careteam.core.errors import Conflict, Duplicate, Forbidden, NotFound, ValidationFailed
from careteam.core.vocab import ClinicRole, Discipline


async def close_all_sessions(session: AsyncSession, user_id: int) -> None:
    """End every session and token of a user (deactivation, password change): the rows go."""
    await session.exec(delete(AuthSession).where(col(AuthSession.user_id) == user_id))


def _require_admin(actor: Actor | None) -> None:
    # actor None is the command line run by the operator on the server itself.
    if actor is not None and not actor.is_admin:
        raise Forbidden("Only administrators manage accounts.")


def require_strong_password(password: str, *, field: str, username: str, display_name: str) -> None:
    """A password someone chooses must not be easy to guess (common, breached, patterned or built from her
    names): ValidationFailed on ``field`` saying why."""
    if (reason := weak_password_reason(password, context=(username, display_name))) is not None:
        raise ValidationFailed(reason, field=field)


async def create_user(
    session: AsyncSession, body: UserCreate, *, actor: Actor | None, seeded: bool = False
) -> User:
    """A new clinician account; the username must be free and the password not easy to guess, unless the
    account is ``seeded`` (the demo's and the tests' accounts: nobody chose that password)."""
    _require_admin(actor)
    if (await session.exec(select(User.id).where(User.username == body.username))).first() is not None:
        raise Duplicate("That username is taken.", field="username")
    if not seeded:
        require_strong_password(
            body.password, field="password", username=body.username, display_name=body.display_name
        )
    user = User(
        username=body.username,
        display_name=body.display_name,
        discipline=body.discipline,
        role=body.role,
        password_hash=hash_password(body.password),
    )
    session.add(user)
    await session.flush()
    audit.record(session, actor, AuditAction.create, "user", user.id)
    return user


async def list_users(
    session: AsyncSession,
    *,
    actor: Actor,
    discipline: Discipline | None = None,
    active: bool | None = None,
    offset: int = 0,
    limit: int = 50,
) -> tuple[list[User], int]:
    """The clinic's directory of clinicians (no patient data), for building teams and mentions."""
    query = select(User)
    if discipline is not None:
        query = query.where(User.discipline == discipline)
    if active is not None:
        query = query.where(User.active == active)
    total = (await session.exec(select(func.count()).select_from(query.subquery()))).one()
    rows = await session.exec(query.order_by(col(User.display_name)).offset(offset).limit(limit))
    return list(rows), int(total)


async def get_user(session: AsyncSession, user_id: int, *, actor: Actor) -> User:
    user = await session.get(User, user_id)
    if user is None:
        raise NotFound("No such user.")
    return user


async def update_user(
    session: AsyncSession,
    user_id: int,
    body: UserUpdate,
    *,
    expected_version: int | None,
    actor: Actor | None,
) -> User:
    """Change an account; deactivating it or changing its password ends all its sessions at once."""
    _require_admin(actor)
    user = await session.get(User, user_id, with_for_update=True)
    if user is None:
        raise NotFound("No such user.")
    if expected_version is not None and user.version != expected_version:
        raise Conflict("Someone changed this account first.", current=UserPublic.model_validate(user))
    changes = body.model_dump(exclude_unset=True)
    for field, value in changes.items():
        if value is None:  # every account field has a value: null is a mistake, not "no change"
            raise ValidationFailed(f"{field} cannot be empty.", field=field)
    if (
        actor is not None
        and user_id == actor.user_id
        and (changes.get("active") is False or changes.get("role") not in (None, user.role))
    ):
        raise ValidationFailed(
            "You cannot deactivate your own account or drop your own admin role.", field="active"
        )
    if (password := changes.pop("password", None)) is not None:
        display_name = changes.get("display_name", user.display_name)
        require_strong_password(password, field="password", username=user.username, display_name=display_name)
        user.password_hash = hash_password(password)
        await close_all_sessions(session, user_id)
    for field, value in changes.items():
        setattr(user, field, value)
    if changes.get("active") is False:
        await close_all_sessions(session, user_id)
    user.version += 1
    session.add(user)
    await session.flush()
    audit.record(session, actor, AuditAction.update, "user", user.id)
    return user


def temporary_password() -> str:
    """A one-time password for a reset: 15 characters from an alphabet without look-alikes (no 0/O, 1/l/I),
    in groups of five for reading aloud or typing from the screen (about 77 bits)."""
    groups = ("".join(secrets.choice(_TEMPORARY_ALPHABET) for _ in range(5)) for _ in range(3))
    return "-".join(groups)


_TEMPORARY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"


async def reset_password(session: AsyncSession, user_id: int, *, actor: Actor) -> tuple[User, str]:
    """An administrator resets a clinician's password: a generated temporary password (returned once, to
    show her; only its hash is kept), which she must change at next sign-in; all her sessions and tokens end
    at once. Audited as an update of the account."""
    _require_admin(actor)
    if user_id == actor.user_id:
        raise ValidationFailed(
            "You cannot reset your own password here: choose a new one on your account's password page.",
            field="user_id",
        )
    user = await session.get(User, user_id, with_for_update=True)
    if user is None:
        raise NotFound("No such user.")
    password = temporary_password()
    user.password_hash = hash_password(password)
    user.must_change_password = True
    user.version += 1
    session.add(user)
    await close_all_sessions(session, user_id)
    await session.flush()
    audit.record(session, actor, AuditAction.update, "user", user.id)
    return user, password


async def change_own_password(
    session: AsyncSession, current: str, new: str, *, actor: Actor, keep_session: str | None
) -> User:
    """The signed-in clinician chooses a new password (after a reset, before anything else): the current one
    must be right and the new one differ. Her other sessions and tokens end; ``keep_session`` (this
    browser's) stays. Audited."""
    user = await session.get(User, actor.user_id, with_for_update=True)
    if user is None or not verify_password(current, user.password_hash):
        raise ValidationFailed("Your current password is wrong.", field="current_password")
    if verify_password(new, user.password_hash):
        raise ValidationFailed("Choose a password different from the current one.", field="new_password")
    require_strong_password(new, field="new_password", username=user.username, display_name=user.display_name)
    user.password_hash = hash_password(new)
    user.must_change_password = False
    user.version += 1
    session.add(user)
    await session.exec(
        delete(AuthSession).where(
            col(AuthSession.user_id) == user.id, col(AuthSession.id) != (keep_session or "")
        )
    )
    await session.flush()
    audit.record(session, actor, AuditAction.update, "user", user.id)
    return user


def directory() -> sa.Subquery:
    """Every account's public identity (``id, username, display_name, active``) as a subquery, for other
    features to join (a care team's member names) without touching this feature's tables."""
    return select(col(User.id), col(User.username), col(User.display_name), col(User.active)).subquery(
        "directory"
    )


async def active_user(session: AsyncSession, user_id: int) -> User | None:
    """The active account with this id, or None (unknown or deactivated)."""
    user = await session.get(User, user_id)
    return user if user is not None and user.active else None


async def active_user_ids(session: AsyncSession, *, discipline: str) -> list[int]:
    """The active clinicians of one discipline (a referral's pool), by id; administrators are not in it."""
    rows = await session.exec(
        select(col(User.id))
        .where(col(User.discipline) == discipline, col(User.active), col(User.role) == ClinicRole.clinician)
        .order_by(col(User.id))
    )
    return [int(user_id or 0) for user_id in rows]


async def active_clinicians(session: AsyncSession) -> list[tuple[int, str, str]]:
    """Every active account as ``(id, display name, discipline)``, by name: a form's list of clinicians to
    name (a referral's recipient)."""
    rows = await session.exec(
        select(col(User.id), col(User.display_name), col(User.discipline))
        .where(col(User.active))
        .order_by(col(User.display_name), col(User.id))
    )
    return [(int(user_id or 0), name, str(discipline)) for user_id, name, discipline in rows]


async def display_names(session: AsyncSession, user_ids: Iterable[int]) -> dict[int, str]:
    """Display names by user id, in one query (unknown ids are left out)."""
    ids = sorted(set(user_ids))
    if not ids:
        return {}
    rows = await session.exec(select(col(User.id), col(User.display_name)).where(col(User.id).in_(ids)))
    return {int(user_id or 0): name for user_id, name in rows}


async def identities(
    session: AsyncSession, user_ids: Iterable[int], *, active: bool = False
) -> dict[int, tuple[str, str]]:
    """Display name and discipline by user id, in one query (``active``: deactivated accounts left out)."""
    ids = sorted(set(user_ids))
    if not ids:
        return {}
    query = select(col(User.id), col(User.display_name), col(User.discipline)).where(col(User.id).in_(ids))
    if active:
        query = query.where(col(User.active))
    rows = await session.exec(query)
    return {int(user_id or 0): (name, str(discipline)) for user_id, name, discipline in rows}


@dataclass(frozen=True, slots=True)
class Identity:
    """A clinician as others see her: the clinic's directory entry."""

    user_id: int
    username: str
    display_name: str
    discipline: Discipline
    active: bool


async def practitioners(session: AsyncSession, user_ids: Iterable[int]) -> list[Identity]:
    """Clinicians by id, in id order, deactivated ones too (they stay the authors of what they wrote)."""
    ids = sorted(set(user_ids))
    if not ids:
        return []
    query = select(User).where(col(User.id).in_(ids)).order_by(col(User.id))
    return [
        Identity(u.id or 0, u.username, u.display_name, Discipline(u.discipline), u.active)
        for u in await session.exec(query)
    ]


async def user_ids_by_username(session: AsyncSession, usernames: Iterable[str]) -> dict[str, int]:
    """Active clinicians' ids by username (an EMR's Practitioner matched by its identifier)."""
    names = sorted(set(usernames))
    if not names:
        return {}
    query = select(col(User.username), col(User.id)).where(
        col(User.username).in_(names), col(User.active), User.role != ClinicRole.integration
    )
    return {name: int(user_id or 0) for name, user_id in await session.exec(query)}
