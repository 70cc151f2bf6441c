"""Bearer tokens for API clients, and who am I."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from careteam.api.deps import CurrentActor, SessionDep, SettingsDep, client_ip, request_id
from careteam.api.problems import problem
from careteam.auth import sessions as auth_sessions
from careteam.domain.schemas import Input, UserPublic
from careteam.store.tables import User

router = APIRouter(tags=["auth"])


class TokenRequest(Input):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=256)


class TokenPublic(BaseModel):
    access_token: str
    token_type: str = "bearer"  # noqa: S105 - the OAuth2 token type, not a secret
    expires_in: int


@router.post("/auth/token", response_model=TokenPublic, responses={401: {}, 429: {}})
async def create_token(
    body: TokenRequest, request: Request, session: SessionDep, settings: SettingsDep
) -> Response | TokenPublic:
    """Exchange a username and password for a bearer token; 429 after too many failures."""
    issued = await auth_sessions.login(
        session,
        body.username,
        body.password,
        kind="bearer",
        settings=settings,
        request_id=request_id(request),
        client_ip=client_ip(request),
    )
    if issued is None:
        # Returned, not raised: the failed attempt must commit so throttling counts it.
        return problem(401, "Sign-in failed", "Unknown username or wrong password.")
    return TokenPublic(access_token=issued.secret, expires_in=settings.token_hours * 3600)


@router.get("/me")
async def me(actor: CurrentActor, session: SessionDep) -> UserPublic:
    """The signed-in clinician."""
    user = await session.get(User, actor.user_id)
    return UserPublic.model_validate(user)
