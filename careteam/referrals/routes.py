"""Referrals: the JSON API (``/api/v1/referrals``)."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response

from careteam.core.vocab import Discipline
from careteam.referrals import jobs as _jobs  # noqa: F401  - declares the escalation job with the routes
from careteam.referrals import service as referrals
from careteam.referrals.codes import ReferralPriority, ReferralStatus
from careteam.referrals.schemas import (
    Complete,
    Decline,
    ReferralCreate,
    ReferralPublic,
    ReferralsPublic,
    ReferralUpdate,
    Revoke,
)
from careteam.settings import Settings
from careteam.web.deps import CurrentActor, Digits, Id, IfMatch, Limit, Now, Offset, SessionDep, etag
from careteam.web.idempotent import IdempotencyKey, once

router = APIRouter(tags=["referrals"])

# What some errors mean here, in words more precise than the derived ones (web/openapi.py).
_READ: dict[int | str, dict[str, Any]] = {
    404: {"description": "No such referral, or not yours to see"},
}
_ACTION: dict[int | str, dict[str, Any]] = {
    **_READ,
    403: {"description": "Not the recipient of this referral"},
    409: {"description": "Not possible in its present state, or claimed by someone else (named)"},
}


def respond_within(request: Request) -> dict[ReferralPriority, timedelta]:
    """How long a recipient has to answer, by priority, as this deployment is configured."""
    settings: Settings = request.app.state.settings
    return {
        ReferralPriority.routine: timedelta(hours=settings.referral_respond_hours_routine),
        ReferralPriority.urgent: timedelta(hours=settings.referral_respond_hours_urgent),
        ReferralPriority.asap: timedelta(hours=settings.referral_respond_hours_asap),
        ReferralPriority.stat: timedelta(hours=settings.referral_respond_hours_stat),
    }


@router.post(
    "/referrals",
    status_code=201,
    response_model=ReferralPublic,
    responses={403: {"description": "Not the team's lead or physician"}},
)
async def create_referral(
    body: ReferralCreate,
    request: Request,
    actor: CurrentActor,
    session: SessionDep,
    now: Now,
    key: IdempotencyKey = None,
) -> Response:
    """Refer a plan's patient to a discipline's pool or a named clinician; 201, status ``active``."""

    async def create() -> tuple[ReferralPublic, dict[str, str]]:
        referral = await referrals.create_referral(
            session, body, actor=actor, now=now, respond_within=respond_within(request)
        )
        return referral, {"ETag": etag(referral.version), "Location": f"/api/v1/referrals/{referral.id}"}

    async def may_replay() -> None:
        await referrals.check_replayed_create(session, body.plan_id, actor=actor)

    return await once(request, session, key, actor, create, may_replay=may_replay)


@router.get("/referrals")
async def list_referrals(
    actor: CurrentActor,
    session: SessionDep,
    now: Now,
    limit: Limit,
    offset: Offset = 0,
    status: ReferralStatus | None = None,
    discipline: Discipline | None = None,
    requester: Annotated[
        int | None, Query(gt=0, lt=2**31, description="The requester's user id"), Digits
    ] = None,
    plan_id: Annotated[int | None, Query(gt=0, lt=2**31), Digits] = None,
    patient_id: Annotated[int | None, Query(gt=0, lt=2**31), Digits] = None,
    mine: Annotated[bool, Query(description="Sent to me by name, or claimed by me")] = False,
    pool: Annotated[bool, Query(description="Waiting unclaimed in my discipline's pool")] = False,
    overdue: Annotated[bool, Query(description="Past respond-by without an answer")] = False,
) -> ReferralsPublic:
    """The referrals you may see, soonest respond-by first."""
    items, total = await referrals.list_referrals(
        session,
        actor=actor,
        now=now,
        status=status,
        discipline=discipline,
        requester_id=requester,
        plan_id=plan_id,
        patient_id=patient_id,
        mine=mine,
        pool=pool,
        overdue=overdue,
        offset=offset,
        limit=limit,
    )
    return ReferralsPublic(items=items, total=total, offset=offset, limit=limit)


@router.get("/referrals/{referral_id}", responses=_READ)
async def get_referral(
    referral_id: Id, actor: CurrentActor, session: SessionDep, now: Now, response: Response
) -> ReferralPublic:
    """One referral; off the care team, the minimal card (``on_team: false``)."""
    referral = await referrals.get_referral(session, referral_id, actor=actor, now=now)
    response.headers["ETag"] = etag(referral.version)
    return referral


@router.patch(
    "/referrals/{referral_id}",
    responses={**_ACTION, 403: {"description": "Not the team's lead or physician"}},
)
async def patch_referral(
    referral_id: Id,
    body: ReferralUpdate,
    actor: CurrentActor,
    session: SessionDep,
    version: IfMatch,
    now: Now,
    response: Response,
) -> ReferralPublic:
    """Change reason, priority, respond-by, recipient or status; 412 with the current one if someone changed
    it first."""
    referral = await referrals.update_referral(
        session, referral_id, body, expected_version=version, actor=actor, now=now
    )
    response.headers["ETag"] = etag(referral.version)
    return referral


@router.post("/referrals/{referral_id}/claim", responses=_ACTION)
async def claim_referral(
    referral_id: Id, actor: CurrentActor, session: SessionDep, now: Now, response: Response
) -> ReferralPublic:
    """Take a pool referral. No If-Match: of several at once exactly one wins; the others get 409 naming
    who claimed it."""
    referral = await referrals.claim_referral(session, referral_id, actor=actor, now=now)
    response.headers["ETag"] = etag(referral.version)
    return referral


@router.post("/referrals/{referral_id}/accept", responses=_ACTION)
async def accept_referral(
    referral_id: Id, actor: CurrentActor, session: SessionDep, now: Now, response: Response
) -> ReferralPublic:
    """Accept (claiming it if it waits in the pool): you join the care team, and a task appears in your
    discipline's lane."""
    referral = await referrals.accept_referral(session, referral_id, actor=actor, now=now)
    response.headers["ETag"] = etag(referral.version)
    return referral


@router.post("/referrals/{referral_id}/decline", responses=_ACTION)
async def decline_referral(
    referral_id: Id, body: Decline, actor: CurrentActor, session: SessionDep, now: Now, response: Response
) -> ReferralPublic:
    """Decline with a reason (required): the referral goes back to its requester."""
    referral = await referrals.decline_referral(session, referral_id, body, actor=actor, now=now)
    response.headers["ETag"] = etag(referral.version)
    return referral


@router.post("/referrals/{referral_id}/complete", responses=_ACTION)
async def complete_referral(
    referral_id: Id, body: Complete, actor: CurrentActor, session: SessionDep, now: Now, response: Response
) -> ReferralPublic:
    """Complete with an outcome note, which goes back to the requester."""
    referral = await referrals.complete_referral(session, referral_id, body, actor=actor, now=now)
    response.headers["ETag"] = etag(referral.version)
    return referral


@router.post(
    "/referrals/{referral_id}/revoke",
    responses={**_ACTION, 403: {"description": "Not the team's lead or physician"}},
)
async def revoke_referral(
    referral_id: Id, body: Revoke, actor: CurrentActor, session: SessionDep, now: Now, response: Response
) -> ReferralPublic:
    """Withdraw with a reason; the referral's open tasks on the board are cancelled."""
    referral = await referrals.revoke_referral(session, referral_id, body, actor=actor, now=now)
    response.headers["ETag"] = etag(referral.version)
    return referral
