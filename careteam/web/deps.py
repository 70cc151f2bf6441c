"""Dependencies shared by JSON and HTML routes: settings, the unit of work, the actor, If-Match, paging."""

from __future__ import annotations

import re
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

from fastapi import Depends, Header, HTTPException, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BeforeValidator
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from careteam.accounts import sessions as auth_sessions
from careteam.audit import service as audit
from careteam.core.actor import Actor
from careteam.core.errors import Conflict, Forbidden, Unauthenticated, ValidationFailed
from careteam.db.engine import unit_of_work
from careteam.db.types import utcnow
from careteam.settings import Settings

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


# Dependencies are async even where they await nothing: FastAPI runs plain functions in a thread pool, a
# thread hop per request that profiling showed on the write path.
async def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


SettingsDep = Annotated[Settings, Depends(get_settings)]


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """One unit of work per request: commits when the endpoint returns, before the response is sent.

    The events it recorded are published by the unit of work itself once committed (``events.record``),
    as for a write from the CLI or a job.
    """
    async with request_unit_of_work(request) as session:
        yield session


@asynccontextmanager
async def request_unit_of_work(request: Request) -> AsyncIterator[AsyncSession]:
    """A request's unit of work (``get_session``, and the thin routes of ``web.fast``)."""
    sessions: async_sessionmaker[AsyncSession] = request.app.state.sessions
    try:
        async with unit_of_work(sessions) as session:
            yield session
    except Conflict as exc:
        # The 412 shows the current state: a read of patient data, audited even though the write failed
        # (in a unit of work of its own, since the write's rolled back; none when the 412 shows nothing).
        if exc.shown is not None and exc.actor is not None:
            async with unit_of_work(sessions) as audit_session:
                audit.record_shown(audit_session, exc)
        raise


# scope="function": the commit runs right after the endpoint, so a failed commit is the client's answer.
SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]


def request_id(request: Request) -> str | None:
    rid: str | None = request.scope.get("state", {}).get("request_id")
    return rid


def client_ip(request: Request) -> str | None:
    return request.client.host if request.client else None


async def optional_actor(request: Request, session: SessionDep) -> Actor | None:
    """The signed-in actor from a bearer token or the session cookie; None if neither is valid."""
    return await signed_in_actor(request, session)


async def signed_in_actor(request: Request, session: AsyncSession) -> Actor | None:
    """``optional_actor`` for a route without dependencies (``web.fast``)."""
    actor = await _signed_in(request, session, request.app.state.settings)
    if actor is not None:
        # For the access log (web.middleware): who asked, by id only.
        request.state.user_id = actor.user_id
    return actor


async def _signed_in(request: Request, session: AsyncSession, settings: Settings) -> Actor | None:
    authz = request.headers.get("authorization", "")
    if authz:
        scheme, _, token = authz.partition(" ")
        if scheme.lower() != "bearer":
            return None
        return await auth_sessions.resolve(
            session,
            token.strip(),
            kind="bearer",
            settings=settings,
            request_id=request_id(request),
            client_ip=client_ip(request),
        )
    cookie = request.cookies.get(settings.session_cookie_name)
    if not cookie:
        return None
    actor = await auth_sessions.resolve(
        session,
        cookie,
        kind="cookie",
        settings=settings,
        request_id=request_id(request),
        client_ip=client_ip(request),
    )
    if actor is not None and request.method not in SAFE_METHODS and request.url.path.startswith("/api/"):
        # Cookie-authenticated API writes come from our own pages' scripts: they must carry the CSRF token.
        expected = await auth_sessions.csrf_token_for(session, actor.session_id or "")
        if not expected or not secrets.compare_digest(request.headers.get("x-csrf-token", ""), expected):
            raise Forbidden("Missing or wrong CSRF token.")
    return actor


# What an account whose password an administrator reset may still call: who am I, and change it.
PASSWORD_CHANGE_PATHS = frozenset({"/api/v1/me", "/api/v1/me/password"})
MUST_CHANGE_DETAIL = (
    "Password change required: an administrator reset your password. "
    "Choose your own (POST /api/v1/me/password, or sign in on the web) before anything else."
)


# An EMR interface account (ClinicRole.integration) works through FHIR only; it may see who it is, change
# its password and end its own tokens.
INTEGRATION_PATHS = ("/fhir/", "/api/v1/me/sessions", "/api/v1/me/password")
INTEGRATION_DETAIL = "This account is an EMR interface: it uses the FHIR API at /fhir/R4 only."


async def current_actor(request: Request, actor: Annotated[Actor | None, Depends(optional_actor)]) -> Actor:
    return require_actor(request, actor)


def require_actor(request: Request, actor: Actor | None) -> Actor:
    """The actor, if she may call this path: 401 signed out, 403 for a reset password or an EMR interface
    account outside its paths."""
    if actor is None:
        raise Unauthenticated("Sign in, or send a valid bearer token.")
    path = request.url.path
    if actor.must_change_password and path not in PASSWORD_CHANGE_PATHS:
        raise Forbidden(MUST_CHANGE_DETAIL)
    if actor.is_integration and not (path == "/api/v1/me" or path.startswith(INTEGRATION_PATHS)):
        raise Forbidden(INTEGRATION_DETAIL)
    return actor


OptionalActor = Annotated[Actor | None, Depends(optional_actor)]
CurrentActor = Annotated[Actor, Depends(current_actor)]

IF_MATCH = "If-Match"
_ETAG = re.compile(r'^\s*(?:W/)?"(\d{1,9})"\s*$')


async def if_match(if_match: Annotated[str | None, Header(alias=IF_MATCH)] = None) -> int:
    """The version the client last saw, from ``If-Match: W/"<version>"``; 428 without it."""
    if if_match is None:
        raise HTTPException(428, "Send If-Match with the ETag you last read, so no change is overwritten.")
    version = etag_version(if_match)
    if version is None:
        # Input that does not parse: a 422 naming the header, like any other malformed parameter.
        raise RequestValidationError(
            [{"loc": ("header", IF_MATCH), "msg": 'must be an ETag such as W/"3"', "type": "value_error"}]
        )
    return version


def etag_version(value: str) -> int | None:
    """The version of an ETag ``W/"<version>"`` (or a strong one), None if it is not one."""
    m = _ETAG.match(value)
    return None if m is None else int(m.group(1))


IfMatch = Annotated[int, Depends(if_match)]


# Ids are 32-bit positive integers: larger ones are refused with 422, never passed to the database.
def _digits(value: object) -> object:
    """A number in a path or query string is written with the digits 0-9 only: ``int()`` would also read
    "+1", " 1", "1_0" or full-width digits as numbers, and docs/api.md says anything else is a 422."""
    if isinstance(value, str) and not (value.isascii() and value.isdecimal()):
        raise ValueError("Write it with the digits 0-9 only.")
    return value


Digits = BeforeValidator(_digits)
Id = Annotated[int, Path(gt=0, lt=2**31), Digits]
Offset = Annotated[int, Query(ge=0, lt=2**31), Digits]


async def page_limit(settings: SettingsDep, limit: Annotated[int, Query(ge=1, lt=2**31), Digits] = 50) -> int:
    """Page size: 50 by default, at most CARETEAM_PAGE_SIZE_MAX."""
    if limit > settings.page_size_max:
        raise RequestValidationError(
            [
                {
                    "loc": ("query", "limit"),
                    "msg": f"must be at most {settings.page_size_max}",
                    "type": "less_than_equal",
                }
            ]
        )
    return limit


Limit = Annotated[int, Depends(page_limit)]


@dataclass(frozen=True, slots=True)
class IdCursors:
    """A thread's page by message id: ``before`` pages back from the newest (none: the newest page),
    ``after`` forward from an id; not both."""

    before: int | None
    after: int | None


def id_cursors(
    before: Annotated[
        int | None, Query(gt=0, lt=2**31, description="A message id: the page older than it"), Digits
    ] = None,
    after: Annotated[
        int | None, Query(gt=0, lt=2**31, description="A message id: the page newer than it"), Digits
    ] = None,
) -> IdCursors:
    if before is not None and after is not None:
        raise ValidationFailed("Page with before or after, not both.", field="query.after")
    return IdCursors(before, after)


Cursors = Annotated[IdCursors, Depends(id_cursors)]


async def current_time(request: Request) -> datetime:
    """The app's clock's time (``create_app(clock=...)``): deadlines and "overdue" are judged by it, so a
    test that moves the clock sees the same time in answers as in scheduled jobs."""
    clock = getattr(request.app.state, "clock", None)
    return clock.now() if clock is not None else utcnow()


Now = Annotated[datetime, Depends(current_time)]


def etag(version: int) -> str:
    return f'W/"{version}"'
