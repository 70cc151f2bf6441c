"""Medications: the JSON API (``/api/v1/plans/{id}/medications``, ``/api/v1/medications/{id}``)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from careteam.medications import jobs as _jobs  # noqa: F401 - declares the safety-task job
from careteam.medications import service as medications
from careteam.medications.schemas import (
    MedicationCreate,
    MedicationPublic,
    MedicationsPublic,
    MedicationUpdate,
)
from careteam.plans.board import audited_plan
from careteam.web.deps import CurrentActor, Id, IfMatch, Now, SessionDep, etag
from careteam.web.idempotent import IdempotencyKey, once

router = APIRouter(tags=["medications"])

_WRITE_ERRORS: dict[int | str, dict[str, str]] = {
    403: {"description": "Not one of the plan's physicians, nurses, pharmacists or its lead"},
    404: {"description": "No such plan or medication, or not on its care team"},
}


@router.get("/plans/{plan_id}/medications", response_model=MedicationsPublic)
async def list_medications(plan_id: Id, actor: CurrentActor, session: SessionDep) -> MedicationsPublic:
    """The plan's medications (active first) and its total morphine milligram equivalents per day (CDC
    2022 factors; flagged at 50 and 90), with the table's source and its caveat: not a dose-conversion
    tool."""
    rows = await medications.plan_medications(session, plan_id, actor=actor)
    acks = await medications.acks_of(session, rows)
    return MedicationsPublic(
        items=[medications.public(r, acks.get(r.id or 0)) for r in rows], mme=medications.mme_summary(rows)
    )


@router.post(
    "/plans/{plan_id}/medications", status_code=201, response_model=MedicationPublic, responses=_WRITE_ERRORS
)
async def add_medication(
    plan_id: Id,
    body: MedicationCreate,
    request: Request,
    actor: CurrentActor,
    session: SessionDep,
    now: Now,
    key: IdempotencyKey = None,
) -> Response:
    """Put a medication on the plan; a new opioid or an anticoagulant's hold posts an urgent message on the
    team thread that the named disciplines must acknowledge. Every open board shows it at once."""

    async def create() -> tuple[MedicationPublic, dict[str, str]]:
        row = await medications.add_medication(session, plan_id, body, actor=actor, today=now.date())
        ack = (await medications.acks_of(session, [row])).get(row.id or 0)
        headers = {"ETag": etag(row.version), "Location": f"/api/v1/medications/{row.id}"}
        return medications.public(row, ack), headers

    return await once(
        request, session, key, actor, create, may_replay=lambda: audited_plan(session, plan_id, actor=actor)
    )


@router.patch("/medications/{medication_id}", response_model=MedicationPublic, responses=_WRITE_ERRORS)
async def change_medication(
    medication_id: Id,
    body: MedicationUpdate,
    actor: CurrentActor,
    session: SessionDep,
    version: IfMatch,
    now: Now,
    response: Response,
) -> MedicationPublic:
    """Change a medication (If-Match: the version you saw; 412 with the current one if it changed). A
    change of an opioid's dose, frequency or status, or of an anticoagulant's hold, must be acknowledged."""
    row = await medications.update_medication(
        session, medication_id, body, expected_version=version, actor=actor, today=now.date()
    )
    response.headers["ETag"] = etag(row.version)
    ack = (await medications.acks_of(session, [row])).get(row.id or 0)
    return medications.public(row, ack)
