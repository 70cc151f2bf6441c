"""Clinician accounts, bearer tokens for API clients, and who am I: the JSON API."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request, Response, status
from pydantic import BaseModel, Field

from careteam.accounts import service as accounts
from careteam.accounts import sessions as auth_sessions
from careteam.accounts.schemas import (
    PasswordChange,
    PasswordResetPublic,
    SessionPublic,
    SessionsPublic,
    UserCreate,
    UserPublic,
    UserUpdate,
)
from careteam.accounts.tables import User
from careteam.core.errors import Throttled
from careteam.core.schemas import Input, Page
from careteam.core.vocab import Discipline
from careteam.web.deps import (
    CurrentActor,
    Id,
    IfMatch,
    Limit,
    Offset,
    SessionDep,
    SettingsDep,
    client_ip,
    etag,
    request_id,
)
from careteam.web.problems import problem

users_router = APIRouter(tags=["users"])

# A session's handle (``SessionPublic.id``): 16 lowercase hex digits, never the secret.
SessionHandle = Annotated[
    str,
    Path(
        min_length=auth_sessions.HANDLE_LENGTH, max_length=auth_sessions.HANDLE_LENGTH, pattern="^[0-9a-f]+$"
    ),
]


@users_router.get("/users")
async def list_users(
    actor: CurrentActor,
    session: SessionDep,
    limit: Limit,
    discipline: Discipline | None = None,
    active: bool | None = None,
    offset: Offset = 0,
) -> Page[UserPublic]:
    """The clinic's clinicians, for building care teams."""
    rows, total = await accounts.list_users(
        session, actor=actor, discipline=discipline, active=active, offset=offset, limit=limit
    )
    return Page(items=[UserPublic.model_validate(u) for u in rows], total=total, offset=offset, limit=limit)


@users_router.post("/users", status_code=status.HTTP_201_CREATED)
async def create_user(
    body: UserCreate, actor: CurrentActor, session: SessionDep, response: Response
) -> UserPublic:
    """Open an account (administrators)."""
    user = await accounts.create_user(session, body, actor=actor)
    response.headers["ETag"] = etag(user.version)
    return UserPublic.model_validate(user)


@users_router.get("/users/{user_id}")
async def get_user(user_id: Id, actor: CurrentActor, session: SessionDep, response: Response) -> UserPublic:
    user = await accounts.get_user(session, user_id, actor=actor)
    response.headers["ETag"] = etag(user.version)
    return UserPublic.model_validate(user)


@users_router.patch("/users/{user_id}")
async def patch_user(
    user_id: Id,
    body: UserUpdate,
    actor: CurrentActor,
    session: SessionDep,
    version: IfMatch,
    response: Response,
) -> UserPublic:
    """Change an account; deactivating it ends its sessions and tokens at once."""
    user = await accounts.update_user(session, user_id, body, expected_version=version, actor=actor)
    response.headers["ETag"] = etag(user.version)
    return UserPublic.model_validate(user)


@users_router.post("/users/{user_id}/password-reset")
async def reset_password(
    user_id: Id, actor: CurrentActor, session: SessionDep, response: Response
) -> PasswordResetPublic:
    """Reset a clinician's password (administrators): the answer holds a temporary password, this once; she
    must change it at next sign-in, and all her sessions and tokens end now."""
    user, password = await accounts.reset_password(session, user_id, actor=actor)
    response.headers["ETag"] = etag(user.version)
    response.headers["Cache-Control"] = "no-store"
    return PasswordResetPublic(user=UserPublic.model_validate(user), temporary_password=password)


@users_router.get("/users/{user_id}/sessions")
async def list_user_sessions(
    user_id: Id, actor: CurrentActor, session: SessionDep, settings: SettingsDep
) -> SessionsPublic:
    """A clinician's browser sessions and API tokens (administrators; anyone: her own)."""
    return await _sessions(session, user_id, settings, actor)


@users_router.delete("/users/{user_id}/sessions/{session_id}", status_code=status.HTTP_204_NO_CONTENT)
async def revoke_user_session(
    user_id: Id, session_id: SessionHandle, actor: CurrentActor, session: SessionDep
) -> Response:
    """End one of a clinician's sessions or tokens now (administrators; anyone: her own)."""
    await auth_sessions.revoke_session(session, user_id, session_id, actor=actor)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


auth_router = APIRouter(tags=["auth"])


class TokenRequest(Input):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=256)


class TokenPublic(BaseModel):
    access_token: str
    token_type: str = "bearer"  # noqa: S105 - the OAuth2 token type, not a secret
    expires_in: int


@auth_router.post(
    "/auth/token",
    response_model=TokenPublic,
    responses={
        401: {"description": "Unknown username or wrong password"},
        429: {"description": "Too many failed sign-ins from this address: wait Retry-After seconds"},
    },
)
async def create_token(
    body: TokenRequest, request: Request, session: SessionDep, settings: SettingsDep
) -> Response | TokenPublic:
    """Exchange a username and password for a bearer token; 429 with a growing ``Retry-After`` after too
    many failures from this address (for this username, or across usernames)."""
    try:
        issued = await auth_sessions.login(
            session,
            body.username,
            body.password,
            kind="bearer",
            settings=settings,
            request_id=request_id(request),
            client_ip=client_ip(request),
        )
    except Throttled as exc:
        # Returned, not raised: the throttled attempt's audit row commits.
        return problem(429, "Too many attempts", exc.detail, headers={"Retry-After": str(exc.retry_after)})
    if issued is None:
        # Returned, not raised: the failed attempt must commit so throttling counts it.
        return problem(401, "Sign-in failed", "Unknown username or wrong password.")
    return TokenPublic(access_token=issued.secret, expires_in=settings.token_hours * 3600)


@auth_router.get("/me")
async def me(actor: CurrentActor, session: SessionDep) -> UserPublic:
    """The signed-in clinician."""
    user = await session.get(User, actor.user_id)
    return UserPublic.model_validate(user)


@auth_router.post("/me/password", status_code=status.HTTP_204_NO_CONTENT)
async def change_password(body: PasswordChange, actor: CurrentActor, session: SessionDep) -> Response:
    """Choose a new password (the current one must be right); the only write allowed after a reset. Your
    other sessions and tokens end; this one stays."""
    await accounts.change_own_password(
        session,
        body.current_password,
        body.new_password,
        actor=actor,
        keep_session=actor.session_id,
    )
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@auth_router.get("/me/sessions")
async def my_sessions(actor: CurrentActor, session: SessionDep, settings: SettingsDep) -> SessionsPublic:
    """Where you are signed in: your browser sessions and API tokens (never their secrets), this one marked
    ``current``."""
    return await _sessions(session, actor.user_id, settings, actor)


@auth_router.delete("/me/sessions/{session_id}", status_code=status.HTTP_204_NO_CONTENT)
async def revoke_my_session(session_id: SessionHandle, actor: CurrentActor, session: SessionDep) -> Response:
    """End one of your sessions or tokens now: its next request is 401 and its live connections close within
    seconds. Ending the current one signs this client out."""
    await auth_sessions.revoke_session(session, actor.user_id, session_id, actor=actor)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


async def _sessions(
    session: SessionDep, user_id: int, settings: SettingsDep, actor: CurrentActor
) -> SessionsPublic:
    rows = await auth_sessions.list_sessions(session, user_id, settings=settings, actor=actor)
    return SessionsPublic(items=[SessionPublic.of(r, current_id=actor.session_id) for r in rows])


# One router for the app to include (its routes are copied in: no extra level of matching).
router = APIRouter()
router.include_router(users_router)
router.include_router(auth_router)
