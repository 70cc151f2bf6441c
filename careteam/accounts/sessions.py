"""Server-side sessions (browser cookie) and bearer tokens (API clients), stored as SHA-256 of the secret.

The secret leaves the server once, in the cookie or the token response; a database leak reveals no usable
credential. Logout, deactivation, revocation from her list of sessions or an elapsed timeout delete the row,
so a replayed secret finds nothing.

In that list a session is named by its *handle*: the first 64 bits of the digest, never the secret (and not
the whole digest either: a handle only names a row among her own).
"""

from __future__ import annotations

import hashlib
import math
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import sqlalchemy as sa
from sqlalchemy import delete, event, func
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import SQLModel, col, or_, select
from sqlmodel.ext.asyncio.session import AsyncSession

from careteam.accounts.passwords import verify_password
from careteam.accounts.tables import AuthSession, LoginAttempt, User
from careteam.audit import service as audit
from careteam.audit.codes import AuditAction, AuditOutcome
from careteam.core.actor import Actor, actor_of
from careteam.core.errors import Forbidden, NotFound, Throttled
from careteam.core.vocab import ClinicRole
from careteam.db.types import utcnow
from careteam.settings import Settings

# Touch last_seen_at at most this often: idle tracking without a write on every request.
_TOUCH_EVERY = timedelta(seconds=60)

_SESSIONS = SQLModel.metadata.tables["auth_session"]
_USERS = SQLModel.metadata.tables["user_account"]
_RESOLVE = (
    sa.select(
        _SESSIONS.c.last_seen_at,
        _SESSIONS.c.expires_at,
        _SESSIONS.c.csrf_token,
        _USERS.c.id,
        _USERS.c.username,
        _USERS.c.display_name,
        _USERS.c.discipline,
        _USERS.c.role,
        _USERS.c.active,
        _USERS.c.must_change_password,
    )
    .join(_USERS, _USERS.c.id == _SESSIONS.c.user_id)
    .where(_SESSIONS.c.id == sa.bindparam("session_id"), _SESSIONS.c.kind == sa.bindparam("kind"))
)
_TOUCH = (
    sa.update(_SESSIONS)
    .where(_SESSIONS.c.id == sa.bindparam("session_id"))
    .values(last_seen_at=sa.bindparam("now", type_=_SESSIONS.c.last_seen_at.type))
)
_DELETE = sa.delete(_SESSIONS).where(_SESSIONS.c.id == sa.bindparam("session_id"))

# The sessionmaker's ``info`` key for this process's ``SessionCache`` (app.py); none: every request reads.
CACHE: Final = "careteam.sessions.cache"
# What the cache keeps of a session, and what a change to these tables makes it forget.
_WATCHED = frozenset({"auth_session", "user_account"})
_CHANGED: Final = "careteam.sessions.changed"


class SessionCache:
    """The session lookup of the last ``seconds``, per process: a request with a session or token resolved
    that recently is answered from memory, not with a query.

    What it keeps is the row ``_RESOLVE`` read (expiry, idle time, user, role, active, password state), and
    every request still checks it against the clock, so an expired session is refused on time. What a row
    cannot tell is a change since it was read: a logout, a revoked token, a deactivated user, a reset
    password, a new role. In this process the cache forgets everything at once when a transaction that
    changed ``auth_session`` or ``user_account`` commits (``watch``); another process's change is seen
    within ``seconds``, never longer than ``CARETEAM_WS_ACCESS_RECHECK_SECONDS``
    (``Settings.session_cache_ttl``, docs/security.md). ``seconds=0`` turns it off.
    """

    __slots__ = ("_entries", "clock", "limit", "seconds")

    def __init__(
        self, seconds: float, *, limit: int = 10_000, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.seconds = seconds
        self.limit = limit
        self.clock = clock
        # (session id, kind) -> (when read, the row, its last_seen_at as this process last wrote it)
        self._entries: dict[tuple[str, str], tuple[float, Any, datetime]] = {}

    def get(self, key: tuple[str, str]) -> tuple[Any, datetime] | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        read_at, row, last_seen = entry
        if self.clock() - read_at >= self.seconds:
            del self._entries[key]
            return None
        return row, last_seen

    def put(self, key: tuple[str, str], row: Any, last_seen: datetime) -> None:
        if self.seconds <= 0:
            return
        if len(self._entries) >= self.limit and key not in self._entries:
            self._entries.clear()  # a burst of new sessions: start again rather than keep an LRU per request
        self._entries[key] = (self.clock(), row, last_seen)

    def touched(self, key: tuple[str, str], at: datetime) -> None:
        entry = self._entries.get(key)
        if entry is not None:
            self._entries[key] = (entry[0], entry[1], at)

    def forget(self, key: tuple[str, str]) -> None:
        self._entries.pop(key, None)

    def clear(self) -> None:
        self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)


def watch(engine: AsyncEngine, cache: SessionCache) -> None:
    """Make ``cache`` forget every session when a transaction on ``engine`` that updated or deleted rows of
    ``auth_session`` or ``user_account`` commits, however it did (ORM flush, Core statement, any feature);
    at once when the statement runs too, so no request of this process refills it with the old row
    meanwhile. A session's idle-time touch (``_TOUCH``) is the one change it keeps, by updating its entry.
    """

    @event.listens_for(engine.sync_engine, "after_cursor_execute")
    def _changed(conn: Any, _cursor: Any, _sql: Any, _params: Any, context: Any, _many: bool) -> None:
        if not (context.isupdate or context.isdelete):
            return
        statement = getattr(context.compiled, "statement", None)
        if statement is _TOUCH:
            return
        table = getattr(statement, "table", None)
        if getattr(table, "name", None) in _WATCHED:
            conn.info[_CHANGED] = True
            cache.clear()

    @event.listens_for(engine.sync_engine, "commit")
    def _committed(conn: Any) -> None:
        if conn.invalidated or conn.closed or conn.info.pop(_CHANGED, False):
            cache.clear()

    @event.listens_for(engine.sync_engine, "rollback")
    def _rolled_back(conn: Any) -> None:
        # A connection the server dropped (an outage) has no info to read: nothing to forget on it.
        if not (conn.invalidated or conn.closed):
            conn.info.pop(_CHANGED, None)


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Issued:
    secret: str
    record: AuthSession
    user: User


async def login(
    session: AsyncSession,
    username: str,
    password: str,
    *,
    kind: str,
    settings: Settings,
    request_id: str | None = None,
    client_ip: str | None = None,
) -> Issued | None:
    """Check the password and open a new session (``kind`` "cookie") or token ("bearer").

    Returns None for a wrong password and for an unknown or inactive user alike. Raises Throttled, without
    checking the password, while this username from this client address, or this address across
    usernames, must still wait after its last failure (``throttle_wait``); the caller returns the refusal
    so that its audit row commits.
    """
    now = utcnow()
    client = (client_ip or "")[:64]
    wait = await throttle_wait(session, username, client, now=now, settings=settings)
    if wait > 0:
        user = (await session.exec(select(User).where(User.username == username))).first()
        values = audit.row(
            _actor_for(user, None, request_id, client_ip) if user else None,
            AuditAction.login,
            "session",
            outcome=AuditOutcome.throttled,
        )
        await audit.insert_row(session, {**values, "request_id": request_id, "client_ip": client_ip})
        raise Throttled("Too many failed sign-ins from here; wait and try again.", retry_after=wait)
    user = (await session.exec(select(User).where(User.username == username))).first()
    ok = verify_password(password, user.password_hash if user else None) and bool(user and user.active)
    # An EMR interface account signs in for a bearer token only, never for a browser session.
    ok = ok and not (kind == "cookie" and user is not None and user.role == ClinicRole.integration)
    session.add(LoginAttempt(username=username, client=client, succeeded=ok, at=now))
    values = audit.row(
        _actor_for(user, None, request_id, client_ip) if user else None,
        AuditAction.login,
        "session",
        outcome=AuditOutcome.success if ok else AuditOutcome.failure,
    )
    # An unknown username's failure is audited with its address too (never the username or password).
    await audit.insert_row(session, {**values, "request_id": request_id, "client_ip": client_ip})
    if not ok or user is None:
        return None
    return await open_session(session, user, kind=kind, settings=settings, client_ip=client_ip)


async def throttle_wait(
    session: AsyncSession, username: str, client: str, *, now: datetime, settings: Settings
) -> int:
    """Seconds this sign-in must still wait (0: go ahead). Failures within the window count, per (username,
    client address) beyond ``login_max_failures`` and per address beyond ``login_max_failures_per_address``:
    the n-th failure over the limit makes the next try wait 2^(n-1) seconds after it, at most the window.
    The counts are rows in the database, shared by every process (two racing processes may each let one
    extra try through)."""
    window = settings.login_window_minutes * 60
    since = now - timedelta(seconds=window)
    failed = (col(LoginAttempt.succeeded).is_(False), col(LoginAttempt.at) >= since)
    by_client = col(LoginAttempt.client) == client
    waits = [0]
    for where, limit in (
        ((col(LoginAttempt.username) == username, by_client), settings.login_max_failures),
        ((by_client,), settings.login_max_failures_per_address),
    ):
        failures, last = (
            await session.exec(select(func.count(), func.max(col(LoginAttempt.at))).where(*where, *failed))
        ).one()
        if failures >= limit and last is not None:
            delay = min(2 ** min(failures - limit, 30), window)
            waits.append(math.ceil(delay - (now - _aware(last)).total_seconds()))
    return max(waits)


def _aware(at: datetime) -> datetime:
    # SQLite hands back naive datetimes; they are UTC.
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


async def open_session(
    session: AsyncSession, user: User, *, kind: str, settings: Settings, client_ip: str | None = None
) -> Issued:
    """A fresh random secret (256 bits): a new id at every login, never reused.

    The user's expired sessions go at the same time (a refused request cannot delete them: its unit of
    work rolls back).
    """
    secret = secrets.token_urlsafe(32)
    now = utcnow()
    await session.exec(
        delete(AuthSession).where(col(AuthSession.user_id) == user.id, col(AuthSession.expires_at) <= now)
    )
    lifetime = (
        timedelta(hours=settings.session_absolute_hours)
        if kind == "cookie"
        else timedelta(hours=settings.token_hours)
    )
    record = AuthSession(
        id=_digest(secret),
        user_id=user.id or 0,
        kind=kind,
        csrf_token=secrets.token_urlsafe(32),
        created_at=now,
        last_seen_at=now,
        expires_at=now + lifetime,
        client_ip=client_ip[:64] if client_ip else None,
    )
    session.add(record)
    await session.flush()
    return Issued(secret=secret, record=record, user=user)


async def resolve(
    session: AsyncSession,
    secret: str,
    *,
    kind: str,
    settings: Settings,
    request_id: str | None = None,
    client_ip: str | None = None,
) -> Actor | None:
    """The actor behind a cookie or token secret, or None if it is unknown, expired or its user inactive.

    Every request comes here: one prebuilt query, no ORM objects, or none at all for a session this
    process resolved within ``CARETEAM_SESSION_CACHE_SECONDS`` (``SessionCache``). The session row is
    written only when it ends (deleted) or when its last activity is older than ``_TOUCH_EVERY``, so an
    idle cookie session ends between ``session_idle_minutes`` minus one minute and ``session_idle_minutes``
    after the last request: never late.
    """
    if not secret or len(secret) > 256:
        return None
    session_id = _digest(secret)
    key = (session_id, kind)
    cache: SessionCache | None = session.info.get(CACHE)
    now = utcnow()
    cached = cache.get(key) if cache is not None else None
    if cached is not None and now - cached[1] <= _TOUCH_EVERY:
        row, last_seen = cached
    else:
        conn = await session.connection()
        row = (await conn.execute(_RESOLVE, {"session_id": session_id, "kind": kind})).first()
        if row is None:
            return None
        last_seen = row.last_seen_at
        if cache is not None:
            cache.put(key, row, last_seen)
    idle = now - last_seen
    idle_expired = kind == "cookie" and idle > timedelta(minutes=settings.session_idle_minutes)
    if not row.active or now >= row.expires_at or idle_expired:
        if cache is not None:
            cache.forget(key)
        await (await session.connection()).execute(_DELETE, {"session_id": session_id})
        return None
    if idle > _TOUCH_EVERY:
        await (await session.connection()).execute(_TOUCH, {"session_id": session_id, "now": now})
        if cache is not None:
            cache.touched(key, now)
    # Kept for this unit of work: a cookie-authenticated write checks its CSRF token without a query.
    session.info.setdefault("csrf_tokens", {})[session_id] = row.csrf_token
    return actor_of(row, session_id=session_id, request_id=request_id, client_ip=client_ip)


async def csrf_token_for(session: AsyncSession, session_id: str) -> str | None:
    known: dict[str, str] = session.info.get("csrf_tokens", {})
    if session_id in known:
        return known[session_id]
    record = await session.get(AuthSession, session_id)
    return record.csrf_token if record else None


async def close_session(session: AsyncSession, session_id: str, *, actor: Actor) -> None:
    """Logout: the session row goes, so the same cookie is refused from now on."""
    await session.exec(delete(AuthSession).where(col(AuthSession.id) == session_id))
    audit.record(session, actor, AuditAction.logout, "session")


async def live_session_ids(session: AsyncSession, ids: set[str], *, settings: Settings) -> set[str]:
    """Which of these sessions are still valid: not logged out, not expired (absolute, or idle for a cookie
    session), user active. The realtime hub closes the sockets of the others."""
    if not ids:
        return set()
    rows = await session.exec(
        select(col(AuthSession.id))
        .join(User, col(User.id) == col(AuthSession.user_id))
        .where(col(AuthSession.id).in_(ids), col(User.active).is_(True), *_valid(settings))
    )
    return set(rows.all())


def _valid(settings: Settings) -> tuple[sa.ColumnElement[bool], ...]:
    """A session row that still signs in: before its absolute end, and a cookie session not idle too long."""
    now = utcnow()
    idle_since = now - timedelta(minutes=settings.session_idle_minutes)
    return (
        col(AuthSession.expires_at) > now,
        or_(col(AuthSession.kind) == "bearer", col(AuthSession.last_seen_at) > idle_since),
    )


# A session's handle: the first 16 hex digits (64 bits) of its digest.
HANDLE_LENGTH: Final = 16
_HANDLE = re.compile(f"[0-9a-f]{{{HANDLE_LENGTH}}}")


def handle_of(session_id: str) -> str:
    return session_id[:HANDLE_LENGTH]


async def list_sessions(
    session: AsyncSession, user_id: int, *, settings: Settings, actor: Actor
) -> list[AuthSession]:
    """Her browser sessions and API tokens that still sign in, newest first (an administrator: anyone's)."""
    await _ensure_may_manage(session, user_id, actor)
    rows = await session.exec(
        select(AuthSession)
        .where(col(AuthSession.user_id) == user_id, *_valid(settings))
        .order_by(col(AuthSession.created_at).desc(), col(AuthSession.id))
    )
    return list(rows)


async def revoke_session(session: AsyncSession, user_id: int, handle: str, *, actor: Actor) -> None:
    """End one of her sessions or tokens now: its next request is refused (401), its open sockets close at
    the realtime hub's next access re-check. Audited as the deletion of that session."""
    await _ensure_may_manage(session, user_id, actor)
    found = (
        await session.exec(
            select(col(AuthSession.id)).where(
                col(AuthSession.user_id) == user_id, col(AuthSession.id).startswith(handle)
            )
        )
    ).all()
    # A handle is 64 bits: two of her sessions sharing one is a collision nobody will see, but never guess.
    if not _HANDLE.fullmatch(handle) or len(found) != 1:
        raise NotFound("No such session.")
    await session.exec(delete(AuthSession).where(col(AuthSession.id) == found[0]))
    audit.record(session, actor, AuditAction.delete, "session", f"{user_id}:{handle}")


async def _ensure_may_manage(session: AsyncSession, user_id: int, actor: Actor) -> None:
    """Her own sessions, or an administrator anyone's; an unknown account is not found."""
    if user_id == actor.user_id:
        return
    if not actor.is_admin:
        raise Forbidden("Only administrators manage another clinician's sessions.")
    if await session.get(User, user_id) is None:
        raise NotFound("No such user.")


def _actor_for(user: User, session_id: str | None, request_id: str | None, client_ip: str | None) -> Actor:
    return actor_of(user, session_id=session_id, request_id=request_id, client_ip=client_ip)
