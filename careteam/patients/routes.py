"""Patients and their care teams."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from careteam.core.schemas import Page
from careteam.patients import service as patients
from careteam.patients.schemas import (
    CareTeamPublic,
    CareTeamUpdate,
    MemberCreate,
    MembersCreate,
    PatientCreate,
    PatientPublic,
    PatientUpdate,
    ShareCreate,
    SharePublic,
)
from careteam.web.deps import CurrentActor, Id, IfMatch, Limit, Offset, SessionDep, etag

router = APIRouter(tags=["patients"])


@router.get("/patients")
async def list_patients(
    actor: CurrentActor,
    session: SessionDep,
    limit: Limit,
    offset: Offset = 0,
    q: Annotated[str | None, Query(max_length=100)] = None,
) -> Page[PatientPublic]:
    """The patients whose care team you are on (every patient, for administrators)."""
    rows, total = await patients.list_patients(session, actor=actor, q=q, offset=offset, limit=limit)
    return Page(
        items=[PatientPublic.model_validate(p) for p in rows], total=total, offset=offset, limit=limit
    )


@router.post("/patients", status_code=status.HTTP_201_CREATED)
async def create_patient(
    body: PatientCreate, actor: CurrentActor, session: SessionDep, response: Response
) -> PatientPublic:
    """Register a patient (IPM leads and administrators); a care team comes with her."""
    patient = await patients.create_patient(session, body, actor=actor)
    response.headers["ETag"] = etag(patient.version)
    response.headers["Location"] = f"/api/v1/patients/{patient.id}"
    return PatientPublic.model_validate(patient)


@router.get("/patients/{patient_id}")
async def get_patient(
    patient_id: Id, actor: CurrentActor, session: SessionDep, response: Response
) -> PatientPublic:
    patient = await patients.get_patient(session, patient_id, actor=actor)
    response.headers["ETag"] = etag(patient.version)
    return PatientPublic.model_validate(patient)


@router.patch("/patients/{patient_id}")
async def patch_patient(
    patient_id: Id,
    body: PatientUpdate,
    actor: CurrentActor,
    session: SessionDep,
    version: IfMatch,
    response: Response,
) -> PatientPublic:
    patient = await patients.update_patient(session, patient_id, body, expected_version=version, actor=actor)
    response.headers["ETag"] = etag(patient.version)
    return PatientPublic.model_validate(patient)


@router.get("/patients/{patient_id}/care-team")
async def get_care_team(
    patient_id: Id, actor: CurrentActor, session: SessionDep, response: Response
) -> CareTeamPublic:
    team = await patients.get_team(session, patient_id, actor=actor)
    response.headers["ETag"] = etag(team.version)
    return team


@router.patch("/patients/{patient_id}/care-team")
async def patch_care_team(
    patient_id: Id,
    body: CareTeamUpdate,
    actor: CurrentActor,
    session: SessionDep,
    version: IfMatch,
    response: Response,
) -> CareTeamPublic:
    team = await patients.update_team(session, patient_id, body, expected_version=version, actor=actor)
    response.headers["ETag"] = etag(team.version)
    return team


@router.post("/patients/{patient_id}/care-team/members", status_code=status.HTTP_201_CREATED)
async def add_member(
    patient_id: Id, body: MemberCreate, actor: CurrentActor, session: SessionDep, response: Response
) -> CareTeamPublic:
    """Put a clinician on the care team."""
    team = await patients.add_member(session, patient_id, body, expected_version=None, actor=actor)
    response.headers["ETag"] = etag(team.version)
    return team


@router.post("/patients/{patient_id}/care-team/members/batch", status_code=status.HTTP_201_CREATED)
async def add_members(
    patient_id: Id, body: MembersCreate, actor: CurrentActor, session: SessionDep, response: Response
) -> CareTeamPublic:
    """Put several clinicians on the care team at once: all of them, or none (the first problem is named)."""
    team = await patients.add_members(session, patient_id, body.members, expected_version=None, actor=actor)
    response.headers["ETag"] = etag(team.version)
    return team


@router.delete("/patients/{patient_id}/care-team/members/{member_id}")
async def remove_member(
    patient_id: Id,
    member_id: Id,
    actor: CurrentActor,
    session: SessionDep,
    version: IfMatch,
    response: Response,
) -> CareTeamPublic:
    """Take a clinician off the care team (If-Match: the team's ETag)."""
    team = await patients.remove_member(session, patient_id, member_id, expected_version=version, actor=actor)
    response.headers["ETag"] = etag(team.version)
    return team


@router.get("/patients/{patient_id}/shares")
async def list_shares(patient_id: Id, actor: CurrentActor, session: SessionDep) -> list[SharePublic]:
    """The EMR interface accounts that may work on this patient through FHIR."""
    return await patients.shares(session, patient_id, actor=actor)


@router.post(
    "/patients/{patient_id}/shares",
    status_code=status.HTTP_201_CREATED,
    responses={403: {"description": "Not one who manages the care team"}},
)
async def share_patient(
    patient_id: Id, body: ShareCreate, actor: CurrentActor, session: SessionDep
) -> SharePublic:
    """Let an EMR interface account read and write this patient's record through FHIR (the team's lead, an
    IPM lead on the team, or an administrator); sharing again changes nothing."""
    return await patients.share_patient(session, patient_id, body.user_id, actor=actor)


@router.delete(
    "/patients/{patient_id}/shares/{user_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={403: {"description": "Not one who manages the care team"}},
)
async def unshare_patient(patient_id: Id, user_id: Id, actor: CurrentActor, session: SessionDep) -> Response:
    """Take the patient back from an EMR interface account."""
    await patients.unshare_patient(session, patient_id, user_id, actor=actor)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
