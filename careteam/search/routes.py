"""Search: the JSON API (GET /api/v1/search)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from careteam.search import service as search_service
from careteam.search.codes import Q_MAX, SearchKind
from careteam.search.schemas import SearchResultsPublic
from careteam.web.deps import CurrentActor, Limit, Offset, SessionDep

router = APIRouter(tags=["search"])

Q = Annotated[
    str,
    Query(
        min_length=1,
        max_length=Q_MAX,
        description="Words to find (all of them); quotes and operators are ignored",
        examples=["sleep diary"],
    ),
]


@router.get("/search")
async def search(
    q: Q,
    actor: CurrentActor,
    session: SessionDep,
    limit: Limit,
    kind: SearchKind | None = None,
    offset: Offset = 0,
) -> SearchResultsPublic:
    """Messages and tasks on your patients' plans that contain every word, best match first, with the
    matching text highlighted."""
    return await search_service.search(session, q, actor=actor, kind=kind, limit=limit, offset=offset)
