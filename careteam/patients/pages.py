"""Patients' HTML pages: the patient list, registration, a patient's page with her care team and plans."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import replace
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import FileResponse, Response
from pydantic import ValidationError
from sqlmodel.ext.asyncio.session import AsyncSession

from careteam import resources
from careteam.accounts import service as accounts
from careteam.core.actor import Actor
from careteam.core.errors import (
    Conflict,
    Duplicate,
    ValidationFailed,
)
from careteam.core.vocab import ClinicRole
from careteam.patients import service as patients
from careteam.patients.codes import TeamRole
from careteam.patients.schemas import MemberCreate, PatientCreate, ShareCreate
from careteam.web.deps import Id
from careteam.web.forms import (
    STALE_FORM,
    Db,
    Editor,
    PageRoute,
    Viewer,
    field_errors,
    form_version,
    see_other,
)
from careteam.web.problems import status_of
from careteam.web.templating import Pager, page_number, render

PATIENTS_PER_PAGE = 25

# Directory look-ups for pickers (team members, audit filter): a clinic's whole staff fits.
DIRECTORY_LIMIT = 1000

STALE_TEAM = (
    "Someone changed this care team first. Nothing was changed by you: "
    "the team below is up to date, check it and try again."
)

PATIENT_HINTS = {
    "mrn": "Enter the MRN: letters, digits and hyphens, up to 32 characters.",
    "name": "Enter the patient's full name (up to 200 characters).",
    "birth_date": "Enter the birth date as a valid date.",
}

MEMBER_HINTS = {"user_id": "Choose a clinician.", "role": "Choose lead or member."}

router = APIRouter(route_class=PageRoute, include_in_schema=False)


@router.get("/")
async def home() -> Response:
    return see_other("/patients")


@router.get("/favicon.ico")
async def favicon() -> Response:
    """Browsers ask for /favicon.ico whatever the page links: the same icon as ``<link rel="icon">``."""
    return FileResponse(
        resources.STATIC / "favicon.svg",
        media_type="image/svg+xml",
        headers={"Cache-Control": "public, max-age=86400"},
    )


async def _patients_page(
    request: Request,
    session: AsyncSession,
    actor: Actor,
    *,
    q: str = "",
    page: int = 1,
    form: Mapping[str, str] | None = None,
    errors: Mapping[str, str] | None = None,
    status: int = 200,
) -> Response:
    q = q.strip()[:100]
    pager = Pager("/patients", page, PATIENTS_PER_PAGE, 0, (("q", q),))
    rows, total = await patients.list_patients(
        session, actor=actor, q=q or None, offset=pager.offset, limit=pager.size
    )
    facts = await patient_list_facts(session, [p.id or 0 for p in rows], actor)
    context = {
        "section": "patients",
        "patients": rows,
        "fact_labels": _fact_labels,
        "facts": facts,
        "q": q,
        "pager": replace(pager, total=total),
        "form": {"mrn": "", "name": "", "birth_date": "", **(form or {})},
        "errors": dict(errors or {}),
        "today": date.today(),
    }
    return render(request, "patients/patients.html", context, status_code=status)


# Numbers other features show in a patient's row of the list ("Open tasks" 4, "Overdue tasks" 1; referrals:
# "Pending referrals"), computed for the page's patients in the list's unit of work, one query per feature.
# ``facts(session, patient_ids, actor)`` answers {patient id: {label: number}}; a patient it leaves out
# (nothing of hers the actor may read) shows a dash. Registered by those features'
# pages, as panels are.
PatientListFacts = Callable[[AsyncSession, list[int], Actor], Awaitable[dict[int, dict[str, int]]]]
_list_facts: list[PatientListFacts] = []
_fact_labels: list[str] = []


def add_patient_list_facts(facts: PatientListFacts, *, labels: tuple[str, ...]) -> None:
    """Show ``facts(session, patient_ids, actor)``'s numbers as patient list columns headed ``labels`` (its
    answer's keys), once, in the order registered."""
    if facts not in _list_facts:
        _list_facts.append(facts)
        _fact_labels.extend(label for label in labels if label not in _fact_labels)


async def patient_list_facts(
    session: AsyncSession, patient_ids: list[int], actor: Actor
) -> dict[int, dict[str, int]]:
    """Every registered feature's numbers for these patients, merged per patient."""
    merged: dict[int, dict[str, int]] = {}
    if not patient_ids:
        return merged
    for facts in _list_facts:
        for patient_id, numbers in (await facts(session, patient_ids, actor)).items():
            merged.setdefault(patient_id, {}).update(numbers)
    return merged


@router.get("/patients")
async def patient_list(
    request: Request, session: Db, actor: Viewer, q: str = "", page: str = "1"
) -> Response:
    """The patients whose care team you are on (every patient, for administrators)."""
    return await _patients_page(request, session, actor, q=q, page=page_number(page))


@router.post("/patients")
async def register_patient(
    request: Request,
    session: Db,
    actor: Editor,
    mrn: Annotated[str, Form()] = "",
    name: Annotated[str, Form()] = "",
    birth_date: Annotated[str, Form()] = "",
) -> Response:
    """Register a patient (IPM leads and administrators) and open her page."""
    form = {"mrn": mrn, "name": name, "birth_date": birth_date}
    try:
        body = PatientCreate.model_validate({"mrn": mrn, "name": name, "birth_date": birth_date or None})
    except ValidationError as exc:
        errors = field_errors(exc, PATIENT_HINTS)
        return await _patients_page(request, session, actor, form=form, errors=errors, status=422)
    try:
        async with session.begin_nested():
            patient = await patients.create_patient(session, body, actor=actor)
    except Duplicate as exc:
        errors = {exc.field: exc.detail}
        return await _patients_page(request, session, actor, form=form, errors=errors, status=status_of(exc))
    except ValidationFailed as exc:
        errors = {exc.field: exc.detail}
        return await _patients_page(request, session, actor, form=form, errors=errors, status=422)
    return see_other(f"/patients/{patient.id}")


# What other features show on a patient's page, as template context (plans: her boards and the form that
# opens one), computed in the page's unit of work. Registered by those features' pages, so this page needs
# none of them: plans builds on patients, never the other way round.
PatientPanel = Callable[[AsyncSession, int, Actor], Awaitable[dict[str, Any]]]
_panels: list[PatientPanel] = []


def add_patient_panel(panel: PatientPanel) -> None:
    """Show ``panel(session, patient_id, actor)``'s context on every patient's page (once, in order)."""
    if panel not in _panels:
        _panels.append(panel)


async def patient_page(
    request: Request,
    session: AsyncSession,
    actor: Actor,
    patient_id: int,
    *,
    form: Mapping[str, Any] | None = None,
    errors: Mapping[str, str] | None = None,
    problem: str | None = None,
    status: int = 200,
) -> Response:
    """The patient's page; ``form`` holds what a failed form sent (team: ``user_ids``, ``roles``; plans:
    ``plan_*``), shown again with ``errors``."""
    patient = await patients.get_patient(session, patient_id, actor=actor)
    team = await patients.get_team(session, patient_id, actor=actor)
    manages = await patients.may_manage_team(session, patient_id, actor=actor)
    shares = await patients.shares(session, patient_id, actor=actor)
    candidates = []
    interfaces = []
    if manages:
        users, _ = await accounts.list_users(session, actor=actor, active=True, limit=DIRECTORY_LIMIT)
        on_team = {m.user_id for m in team.members}
        shared = {s.user_id for s in shares}
        candidates = [u for u in users if u.id not in on_team and u.role != ClinicRole.integration]
        interfaces = [
            (u.id, u.display_name) for u in users if u.role == ClinicRole.integration and u.id not in shared
        ]
    context = {
        "section": "patients",
        "patient": patient,
        "team": team,
        "manages": manages,
        "candidates": candidates,
        "shares": shares,
        "interfaces": interfaces,
        "form": {
            "user_ids": [],
            "roles": {},
            "role": TeamRole.member.value,
            "plan_title": "",
            "plan_start": "",
            "plan_end": "",
            "plan_goals": [],
            **(form or {}),
        },
        "errors": dict(errors or {}),
        "problem": problem,
        "today": date.today(),
    }
    for panel in _panels:
        context.update(await panel(session, patient_id, actor))
    return render(request, "patients/patient.html", context, status_code=status)


@router.get("/patients/{patient_id}")
async def patient_detail(request: Request, patient_id: Id, session: Db, actor: Viewer) -> Response:
    """A patient's demographics and care team; another team's patient is not found."""
    return await patient_page(request, session, actor, patient_id)


@router.post("/patients/{patient_id}/members")
async def add_member(
    request: Request,
    patient_id: Id,
    session: Db,
    actor: Editor,
    user_id: Annotated[list[str] | None, Form()] = None,
    role: Annotated[str, Form()] = TeamRole.member.value,
    version: Annotated[str, Form()] = "",
) -> Response:
    """Put the clinicians ticked on the care team, each with her role (``role_<id>``, else ``role``), in one
    unit of work, unless someone changed the team since the page was loaded."""
    chosen = [u.strip() for u in user_id or [] if u.strip()]
    submitted = await request.form()
    roles = {u: str(submitted.get(f"role_{u}", role)) for u in chosen}
    form = {"user_ids": chosen, "roles": roles, "role": role}
    expected = form_version(version)
    if expected is None:
        return await patient_page(
            request, session, actor, patient_id, form=form, problem=STALE_FORM, status=422
        )
    if not chosen:
        errors = {"user_id": "Choose at least one clinician."}
        return await patient_page(request, session, actor, patient_id, form=form, errors=errors, status=422)
    try:
        bodies = [MemberCreate.model_validate({"user_id": u, "role": roles[u]}) for u in chosen]
    except ValidationError as exc:
        errors = field_errors(exc, MEMBER_HINTS)
        return await patient_page(request, session, actor, patient_id, form=form, errors=errors, status=422)
    try:
        async with session.begin_nested():
            await patients.add_members(session, patient_id, bodies, expected_version=expected, actor=actor)
    except Conflict as exc:
        return await patient_page(
            request, session, actor, patient_id, form=form, problem=STALE_TEAM, status=status_of(exc)
        )
    except (Duplicate, ValidationFailed) as exc:
        errors = {exc.field: exc.detail}
        return await patient_page(
            request, session, actor, patient_id, form=form, errors=errors, status=status_of(exc)
        )
    return see_other(f"/patients/{patient_id}#care-team")


@router.post("/patients/{patient_id}/members/{member_id}/remove")
async def remove_member(
    request: Request,
    patient_id: Id,
    member_id: Id,
    session: Db,
    actor: Editor,
    version: Annotated[str, Form()] = "",
) -> Response:
    """Take a clinician off the care team, unless someone changed the team since the page was loaded."""
    expected = form_version(version)
    if expected is None:
        return await patient_page(request, session, actor, patient_id, problem=STALE_FORM, status=422)
    try:
        async with session.begin_nested():
            team = await patients.remove_member(
                session, patient_id, member_id, expected_version=expected, actor=actor
            )
    except Conflict as exc:
        return await patient_page(
            request, session, actor, patient_id, problem=STALE_TEAM, status=status_of(exc)
        )
    if not actor.is_admin and all(m.user_id != actor.user_id for m in team.members):
        # She took herself off the team: the patient is no longer hers to see.
        return see_other("/patients")
    return see_other(f"/patients/{patient_id}#care-team")


@router.post("/patients/{patient_id}/shares")
async def share_patient(
    request: Request, patient_id: Id, session: Db, actor: Editor, user_id: Annotated[str, Form()] = ""
) -> Response:
    """Let an EMR interface account work on this patient through FHIR (those who manage the team)."""
    try:
        body = ShareCreate.model_validate({"user_id": user_id})
    except ValidationError:
        errors = {"share_user_id": "Choose an EMR interface account."}
        return await patient_page(request, session, actor, patient_id, errors=errors, status=422)
    try:
        async with session.begin_nested():
            await patients.share_patient(session, patient_id, body.user_id, actor=actor)
    except ValidationFailed as exc:
        errors = {"share_user_id": exc.detail}
        return await patient_page(request, session, actor, patient_id, errors=errors, status=422)
    return see_other(f"/patients/{patient_id}#emr-access")


@router.post("/patients/{patient_id}/shares/{user_id}/remove")
async def unshare_patient(
    request: Request, patient_id: Id, user_id: Id, session: Db, actor: Editor
) -> Response:
    """Take the patient back from an EMR interface account."""
    await patients.unshare_patient(session, patient_id, user_id, actor=actor)
    return see_other(f"/patients/{patient_id}#emr-access")
