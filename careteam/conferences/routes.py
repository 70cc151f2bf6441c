"""Case conferences: the JSON API (``/api/v1/conferences``)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response

from careteam.conferences import service as conferences
from careteam.conferences.schemas import (
    Advance,
    AttendancePublic,
    ChangesPublic,
    ConferenceCreate,
    ConferencePublic,
    ConferencesPublic,
    ConferenceUpdate,
    DecisionCreate,
    DecisionPublic,
    ItemUpdate,
    PresencePublic,
    SuggestionsPublic,
    SummaryPublic,
)
from careteam.referrals.routes import respond_within
from careteam.settings import Settings
from careteam.web.deps import CurrentActor, Id, IfMatch, Limit, Now, Offset, SessionDep, SettingsDep, etag
from careteam.web.idempotent import IdempotencyKey, once

router = APIRouter(tags=["conferences"])

# What some errors mean here, in words more precise than the derived ones (web/openapi.py).
_READ: dict[int | str, dict[str, Any]] = {
    404: {"description": "No such conference, or you are not invited"},
}
_RUN: dict[int | str, dict[str, Any]] = {
    **_READ,
    403: {"description": "Not the facilitator (observers write nothing)"},
    409: {"description": "Not possible now: the conference has ended, or every item has been taken"},
}


def _heartbeat(settings: Settings) -> int:
    return settings.conference_heartbeat_seconds


@router.get("/conferences")
async def list_conferences(
    actor: CurrentActor,
    session: SessionDep,
    now: Now,
    limit: Limit,
    offset: Offset = 0,
    past: Annotated[
        bool | None, Query(description="true: ended and cancelled, newest first; false: to come and running")
    ] = None,
) -> ConferencesPublic:
    """The conferences you take part in (no agenda: open one to read it)."""
    items, total = await conferences.list_conferences(
        session, actor=actor, now=now, past=past, offset=offset, limit=limit
    )
    return ConferencesPublic(items=items, total=total)


@router.post(
    "/conferences",
    status_code=201,
    response_model=ConferencePublic,
    responses={403: {"description": "Not an IPM lead"}},
)
async def create_conference(
    body: ConferenceCreate,
    request: Request,
    actor: CurrentActor,
    session: SessionDep,
    now: Now,
    key: IdempotencyKey = None,
) -> Response:
    """Schedule a conference with its agenda; the agenda's plans must be on your care teams. Items the
    team's earlier conferences did not reach join it."""

    async def create() -> tuple[ConferencePublic, dict[str, str]]:
        conference = await conferences.create_conference(session, body, actor=actor, now=now)
        return conference, {
            "ETag": etag(conference.version),
            "Location": f"/api/v1/conferences/{conference.id}",
        }

    async def may_replay() -> None:
        return None  # the answer is read again below, as its creator (a participant)

    return await once(request, session, key, actor, create, may_replay=may_replay)


@router.get("/conferences/suggestions")
async def suggest_agenda(
    actor: CurrentActor, session: SessionDep, now: Now, limit: Limit
) -> SuggestionsPublic:
    """Plans on your care teams that need discussion, with why: overdue tasks or referrals, a declined
    referral, a goal past due, not reviewed at a conference for 3 months."""
    return await conferences.suggest_agenda(session, actor=actor, now=now, today=now.date(), limit=limit)


@router.get("/conferences/{conference_id}", responses=_READ)
async def get_conference(
    conference_id: Id, actor: CurrentActor, session: SessionDep, response: Response
) -> ConferencePublic:
    """The conference with its agenda, decisions and participants."""
    conference = await conferences.get_conference(session, conference_id, actor=actor)
    response.headers["ETag"] = etag(conference.version)
    return conference


@router.patch("/conferences/{conference_id}", responses=_RUN)
async def patch_conference(
    conference_id: Id,
    body: ConferenceUpdate,
    actor: CurrentActor,
    session: SessionDep,
    version: IfMatch,
    now: Now,
    settings: SettingsDep,
    response: Response,
) -> ConferencePublic:
    """Change title, team, time, participants or agenda; start (``in-progress``), end (``ended``: pending
    items become not reached and roll over) or cancel it. The facilitator; If-Match."""
    conference = await conferences.update_conference(
        session,
        conference_id,
        body,
        expected_version=version,
        actor=actor,
        now=now,
        heartbeat_seconds=_heartbeat(settings),
    )
    response.headers["ETag"] = etag(conference.version)
    return conference


@router.post("/conferences/{conference_id}/advance", responses=_RUN)
async def advance(
    conference_id: Id,
    body: Advance,
    actor: CurrentActor,
    session: SessionDep,
    now: Now,
    settings: SettingsDep,
    response: Response,
) -> ConferencePublic:
    """Put an item on every participant's screen (``item_id``, or the next pending one). Sending
    ``item_id`` makes a retry harmless."""
    conference = await conferences.advance(
        session, conference_id, body, actor=actor, now=now, heartbeat_seconds=_heartbeat(settings)
    )
    response.headers["ETag"] = etag(conference.version)
    return conference


@router.patch("/conferences/{conference_id}/items/{item_id}", responses=_RUN)
async def patch_item(
    conference_id: Id,
    item_id: Id,
    body: ItemUpdate,
    actor: CurrentActor,
    session: SessionDep,
    version: IfMatch,
    now: Now,
) -> ConferencePublic:
    """Record an item's outcome (discussed, deferred, not reached), minutes, reason or presenter; If-Match
    is the item's version."""
    return await conferences.update_item(
        session, conference_id, item_id, body, expected_version=version, actor=actor, now=now
    )


@router.post(
    "/conferences/{conference_id}/items/{item_id}/decisions",
    status_code=201,
    response_model=DecisionPublic,
    responses=_RUN,
)
async def add_decision(
    conference_id: Id,
    item_id: Id,
    body: DecisionCreate,
    request: Request,
    actor: CurrentActor,
    session: SessionDep,
    now: Now,
    key: IdempotencyKey = None,
) -> Response:
    """Record a decision; with ``task`` or ``referral`` it puts one on the item's plan (shown on its board
    at once). Your rights on that plan apply."""

    async def create() -> tuple[DecisionPublic, dict[str, str]]:
        decision = await conferences.add_decision(
            session,
            conference_id,
            item_id,
            body,
            actor=actor,
            now=now,
            respond_within=respond_within(request),
        )
        return decision, {}

    async def may_replay() -> None:
        await conferences.conference_role(session, conference_id, actor=actor)

    return await once(request, session, key, actor, create, may_replay=may_replay)


@router.get("/conferences/{conference_id}/items/{item_id}/changes", responses=_READ)
async def item_changes(
    conference_id: Id, item_id: Id, actor: CurrentActor, session: SessionDep, now: Now, limit: Limit
) -> ChangesPublic:
    """The events of the item's plan since its previous conference ended, oldest first."""
    return await conferences.item_changes(session, conference_id, item_id, actor=actor, now=now, limit=limit)


@router.get("/conferences/{conference_id}/presence", responses=_READ)
async def get_presence(
    conference_id: Id, actor: CurrentActor, session: SessionDep, now: Now, settings: SettingsDep
) -> PresencePublic:
    """Who has the room open now."""
    return await conferences.presence(
        session, conference_id, actor=actor, now=now, heartbeat_seconds=_heartbeat(settings)
    )


@router.post(
    "/conferences/{conference_id}/presence", responses={**_READ, 409: {"description": "It has ended"}}
)
async def heartbeat(
    conference_id: Id, actor: CurrentActor, session: SessionDep, now: Now, settings: SettingsDep
) -> PresencePublic:
    """Say you have the room open (every ``heartbeat_seconds``): recorded as attendance; answers who else
    has. Observers too."""
    return await conferences.heartbeat(
        session, conference_id, actor=actor, now=now, heartbeat_seconds=_heartbeat(settings)
    )


@router.post("/conferences/{conference_id}/leave", responses=_READ)
async def leave(
    conference_id: Id, actor: CurrentActor, session: SessionDep, now: Now, settings: SettingsDep
) -> PresencePublic:
    """Say you closed the room (a page sends it as it goes away): you leave the presence list at once;
    attendance keeps you."""
    return await conferences.leave(
        session, conference_id, actor=actor, now=now, heartbeat_seconds=_heartbeat(settings)
    )


@router.get("/conferences/{conference_id}/attendance", responses=_READ)
async def attendance(conference_id: Id, actor: CurrentActor, session: SessionDep) -> list[AttendancePublic]:
    """Who joined, when, and for which items."""
    return await conferences.attendance(session, conference_id, actor=actor)


@router.get("/conferences/{conference_id}/summary", responses=_READ)
async def summary(conference_id: Id, actor: CurrentActor, session: SessionDep) -> SummaryPublic:
    """The record, for export: attendance; per item outcome, decisions, tasks and referrals made, minutes."""
    return await conferences.summary(session, conference_id, actor=actor)
