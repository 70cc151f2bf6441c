"""Protocol templates: the JSON API (``/api/v1/templates``, ``/api/v1/plans/{id}/apply-template``)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response

from careteam.plans.board import audited_plan
from careteam.protocols import service as protocols
from careteam.protocols.schemas import (
    ApplicationPublic,
    ApplyTemplate,
    TemplateBody,
    TemplatePublic,
    TemplatesPublic,
)
from careteam.web.deps import CurrentActor, Id, IfMatch, Now, SessionDep, etag
from careteam.web.idempotent import IdempotencyKey, once

router = APIRouter(tags=["protocols"])

_MAINTAIN: dict[int | str, dict[str, Any]] = {
    403: {"description": "Only an IPM lead maintains protocol templates"}
}


@router.get("/templates")
async def list_templates(actor: CurrentActor, session: SessionDep) -> TemplatesPublic:
    """The clinic's protocol templates at their newest version, active ones first."""
    return TemplatesPublic(items=await protocols.list_templates(session, actor=actor))


@router.post("/templates", status_code=201, response_model=TemplatePublic, responses=_MAINTAIN)
async def create_template(
    body: TemplateBody, request: Request, actor: CurrentActor, session: SessionDep, key: IdempotencyKey = None
) -> Response:
    """A new template (version 1): goals and tasks per lane with due offsets, gates by task key."""

    async def create() -> tuple[TemplatePublic, dict[str, str]]:
        template = await protocols.create_template(session, body, actor=actor)
        return template, {"ETag": etag(template.version), "Location": f"/api/v1/templates/{template.id}"}

    async def may_replay() -> None:
        return None  # templates hold no patient data: anyone signed in reads them

    return await once(request, session, key, actor, create, may_replay=may_replay)


@router.get("/templates/{template_id}")
async def get_template(
    template_id: Id,
    actor: CurrentActor,
    session: SessionDep,
    response: Response,
    version: Annotated[int | None, Query(ge=1, lt=2**31, description="An older version, kept")] = None,
) -> TemplatePublic:
    """A template at its newest version (``ETag``: that number), or at an older one."""
    template = await protocols.get_template(session, template_id, actor=actor, version=version)
    response.headers["ETag"] = etag(template.latest_version)
    return template


@router.put("/templates/{template_id}", responses=_MAINTAIN)
async def put_template(
    template_id: Id,
    body: TemplateBody,
    actor: CurrentActor,
    session: SessionDep,
    version: IfMatch,
    response: Response,
) -> TemplatePublic:
    """Save a template as its next version (the older versions, and the plans they made, stay); 412 with
    the current template if someone saved it first."""
    template = await protocols.update_template(
        session, template_id, body, expected_version=version, actor=actor
    )
    response.headers["ETag"] = etag(template.version)
    return template


@router.post(
    "/plans/{plan_id}/apply-template",
    status_code=201,
    response_model=ApplicationPublic,
    responses={403: {"description": "Only the plan's lead or physicians apply a protocol"}},
)
async def apply_template(
    plan_id: Id,
    body: ApplyTemplate,
    request: Request,
    actor: CurrentActor,
    session: SessionDep,
    now: Now,
    key: IdempotencyKey = None,
) -> Response:
    """Apply an active template to the plan: exactly its goals and tasks, in their lanes, due start date +
    offset, gates wired, linked to the template's version; every viewer of the board sees them arrive.
    Unknown, draft or retired template: 422 on ``template_id``."""

    async def create() -> tuple[ApplicationPublic, dict[str, str]]:
        applied = await protocols.apply_template(session, plan_id, body, actor=actor, today=now.date())
        return applied, {"Location": f"/api/v1/plans/{plan_id}"}

    return await once(
        request, session, key, actor, create, may_replay=lambda: audited_plan(session, plan_id, actor=actor)
    )
