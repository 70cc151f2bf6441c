"""Clinician accounts."""

from __future__ import annotations

from fastapi import APIRouter, Response, status

from careteam.api.deps import CurrentActor, Id, IfMatch, Limit, Offset, SessionDep, etag
from careteam.codes import Discipline
from careteam.domain import accounts
from careteam.domain.schemas import Page, UserCreate, UserPublic, UserUpdate

router = APIRouter(tags=["users"])


@router.get("/users")
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


@router.post("/users", status_code=status.HTTP_201_CREATED)
async def create_user(
    body: UserCreate, actor: CurrentActor, session: SessionDep, response: Response
) -> UserPublic:
    """Open an account (administrators)."""
    user = await accounts.create_user(session, body, actor=actor)
    response.headers["ETag"] = etag(user.version)
    return UserPublic.model_validate(user)


@router.get("/users/{user_id}")
async def get_user(user_id: Id, actor: CurrentActor, session: SessionDep, response: Response) -> UserPublic:
    user = await accounts.get_user(session, user_id, actor=actor)
    response.headers["ETag"] = etag(user.version)
    return UserPublic.model_validate(user)


@router.patch("/users/{user_id}")
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
