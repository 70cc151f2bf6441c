"""Medications' HTML: the board's Medications panel (through ``plans.pages.add_board_panel``): the plan's
MME/day with its flags, source and caveat, each medication with who has not yet acknowledged its last
safety change, and the forms that add, change and stop one; the plan's medications page, where a refused
form comes back with its errors; and the panel's live part.

Live: ``medications.js`` fetches the part again (``/plans/{id}/medications/part``) when a ``medication.*``
or ``message.acknowledged`` event, or a team change, reaches the board, so it is drawn in one place, here.
Forms are plain: one service call, then 303 back to the board.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response
from pydantic import ValidationError
from sqlmodel.ext.asyncio.session import AsyncSession

from careteam.core.actor import Actor
from careteam.core.errors import ValidationFailed
from careteam.core.vocab import DISCIPLINE_LABELS, Discipline
from careteam.medications import service as medications
from careteam.medications.codes import (
    DRUGS,
    FREQUENCY_LABELS,
    MME_CAVEAT,
    Drug,
    DrugClass,
    Frequency,
    MedicationStatus,
    Route,
)
from careteam.medications.schemas import MedicationCreate, MedicationUpdate, SafetyAck
from careteam.medications.tables import Medication
from careteam.patients import service as patients
from careteam.plans import pages as plan_pages
from careteam.plans.board import Board, audited_plan
from careteam.web.deps import Id
from careteam.web.forms import Db, Editor, PageRoute, Viewer, field_errors, form_version, see_other
from careteam.web.templating import render

router = APIRouter(route_class=PageRoute, include_in_schema=False)

HINTS = {
    "drug": "Choose a drug from the list.",
    "dose": "Give the dose as a number above 0 (mg; a fentanyl patch in mcg/h).",
    "frequency": "Choose how often it is taken (a fentanyl patch: continuous).",
    "route": "Choose a route this drug is given by.",
    "start_date": "Give the start date as a date.",
    "status": "Choose active, on hold or stopped.",
    "hold_days": "Give the hold as whole days before the procedure, 0 to 30.",
    "hold_note": "The hold instruction is up to 500 characters.",
    "note": "A note is up to 1000 characters.",
    "acknowledge_by": "Choose disciplines of the care team.",
}
FIELDS = ("drug", "dose", "frequency", "route", "start_date", "status", "hold_days", "hold_note", "note")
STATUS_LABELS = {
    MedicationStatus.active: "Active",
    MedicationStatus.on_hold: "On hold",
    MedicationStatus.stopped: "Stopped",
}
DRUG_CHOICES = [
    (label, [(d.value, DRUGS[d].display) for d in Drug if DRUGS[d].drug_class == cls])
    for cls, label in (
        (DrugClass.opioid, "Opioids"),
        (DrugClass.anticoagulant, "Anticoagulants"),
        (DrugClass.other, "Other"),
    )
]
FREQUENCY_CHOICES = [(f.value, FREQUENCY_LABELS[f]) for f in Frequency]
ROUTE_CHOICES = [("", "Usual route")] + [(r.value, r.value.capitalize()) for r in Route]
STATUS_CHOICES = [(s.value, STATUS_LABELS[s]) for s in MedicationStatus]
ACK_CHOICES = [(d.value, DISCIPLINE_LABELS[d]) for d in Discipline]


def _card(row: Medication, ack: SafetyAck | None) -> dict[str, Any]:
    public = medications.public(row, ack)
    return {
        "id": public.id,
        "version": public.version,
        "display": public.code.display,
        "anticoagulant": public.drug_class == DrugClass.anticoagulant,
        "opioid": public.drug_class == DrugClass.opioid,
        "dose": f"{public.dose:g} {public.unit.value}",
        "dose_value": f"{public.dose:g}",
        "frequency": public.frequency.value,
        "frequency_label": FREQUENCY_LABELS[public.frequency],
        "route": public.route.value,
        "status": public.status.value,
        "status_label": STATUS_LABELS[public.status],
        "since": f"{public.status_since:%d %b %Y}",
        "start": f"{public.start_date:%d %b %Y}",
        "mme": f"{public.mme_per_day:g}" if public.mme_per_day is not None else None,
        "hold_days": "" if public.hold_days is None else str(public.hold_days),
        "hold_note": public.hold_note or "",
        "note": public.note or "",
        "waiting": [w.display_name for w in ack.waiting_for] if ack else [],
        "acknowledged": bool(ack and ack.acknowledged),
    }


async def _context(
    session: AsyncSession,
    plan_id: int,
    patient_id: int,
    actor: Actor,
    *,
    form: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    change: tuple[int, dict[str, str], dict[str, str]] | None = None,
    may_write: bool | None = None,
) -> dict[str, Any]:
    """``may_write``: known already (the board's team), else read."""
    rows = await medications.checked_plan_medications(session, plan_id)
    acks = await medications.acks_of(session, rows)
    mme = medications.mme_summary(rows)
    return {
        "plan_id": plan_id,
        "cards": [_card(r, acks.get(r.id or 0)) for r in rows],
        "total": f"{mme.total:g}",
        "level": mme.level.value,
        "caveat": MME_CAVEAT,
        "may_write": (
            may_write
            if may_write is not None
            else await medications.may_write(session, patient_id, actor=actor)
        ),
        "drugs": DRUG_CHOICES,
        "frequencies": FREQUENCY_CHOICES,
        "routes": ROUTE_CHOICES,
        "statuses": STATUS_CHOICES,
        "ack_choices": ACK_CHOICES,
        "form": form or dict.fromkeys(FIELDS, ""),
        "errors": errors or {},
        # (medication id, the change form as typed, its errors) when a change came back refused
        "change": {"id": change[0], "form": change[1], "errors": change[2]} if change else None,
    }


async def _board_panel(session: AsyncSession, board: Board, actor: Actor) -> plan_pages.BoardPanel | None:
    """The Medications panel below the lanes, for the plan's care team (a plan lent to a conference shows
    none)."""
    me = board.member(actor.user_id)
    if me is None:
        return None
    writer = medications.writes(me.role, me.discipline)
    context = await _context(session, board.plan.id or 0, board.plan.patient_id, actor, may_write=writer)
    return plan_pages.BoardPanel("medications/board_panel.html", context)


plan_pages.add_board_panel(_board_panel)


@router.get("/plans/{plan_id}/medications/part")
async def part(request: Request, plan_id: Id, session: Db, actor: Viewer) -> Response:
    """The panel's live part (the MME total and the medications), for ``medications.js``."""
    plan = await audited_plan(session, plan_id, actor=actor)
    context = await _context(session, plan_id, plan.patient_id, actor)
    return render(request, "medications/part.html", {"p": context})


async def _page(
    request: Request,
    session: AsyncSession,
    actor: Actor,
    plan_id: int,
    *,
    status: int = 200,
    **extra: Any,
) -> Response:
    plan = await audited_plan(session, plan_id, actor=actor)
    patient = await patients.get_patient(session, plan.patient_id, actor=actor)
    context = {
        "section": "patients",
        "plan": plan,
        "patient": patient,
        "p": await _context(session, plan_id, plan.patient_id, actor, **extra),
        "last_seq": plan.last_seq,
    }
    return render(request, "medications/page.html", context, status_code=status)


@router.get("/plans/{plan_id}/medications")
async def medications_page(request: Request, plan_id: Id, session: Db, actor: Viewer) -> Response:
    """The plan's medications and MME/day, with the forms (the board's panel on a page of its own)."""
    return await _page(request, session, actor, plan_id)


def _optional(raw: str) -> str | None:
    return raw.strip() or None


def _whole(raw: str) -> int | str | None:
    raw = raw.strip()
    if not raw:
        return None
    return int(raw) if raw.isascii() and raw.isdigit() else raw


def _refused(exc: ValidationError | ValidationFailed) -> dict[str, str]:
    if isinstance(exc, ValidationFailed):
        return {exc.field: exc.detail}
    return field_errors(exc, HINTS)


@router.post("/plans/{plan_id}/medications")
async def add(
    request: Request,
    plan_id: Id,
    session: Db,
    actor: Editor,
    drug: Annotated[str, Form()] = "",
    dose: Annotated[str, Form()] = "",
    frequency: Annotated[str, Form()] = "",
    route: Annotated[str, Form()] = "",
    start_date: Annotated[str, Form()] = "",
    hold_days: Annotated[str, Form()] = "",
    hold_note: Annotated[str, Form()] = "",
    note: Annotated[str, Form()] = "",
) -> Response:
    """Add a medication; back to the board's Medications panel."""
    form = {"drug": drug, "dose": dose, "frequency": frequency, "route": route, "start_date": start_date}
    form |= {"hold_days": hold_days, "hold_note": hold_note, "note": note, "status": ""}
    try:
        body = MedicationCreate.model_validate(
            {
                "drug": drug,
                "dose": _optional(dose),
                "frequency": frequency,
                "route": _optional(route),
                "start_date": _optional(start_date),
                "hold_days": _whole(hold_days),
                "hold_note": _optional(hold_note),
                "note": _optional(note),
            }
        )
        async with session.begin_nested():
            await medications.add_medication(session, plan_id, body, actor=actor, today=_today())
    except (ValidationError, ValidationFailed) as exc:
        return await _page(request, session, actor, plan_id, form=form, errors=_refused(exc), status=422)
    return see_other(f"/plans/{plan_id}#medications")


@router.post("/medications/{medication_id}/change")
async def change(
    request: Request,
    medication_id: Id,
    session: Db,
    actor: Editor,
    plan_id: Annotated[int, Form(gt=0, lt=2**31)],
    version: Annotated[str, Form()] = "",
    dose: Annotated[str, Form()] = "",
    frequency: Annotated[str, Form()] = "",
    status: Annotated[str, Form()] = "",
    hold_days: Annotated[str, Form()] = "",
    hold_note: Annotated[str, Form()] = "",
    note: Annotated[str, Form()] = "",
) -> Response:
    """Change or stop a medication (a Stop button sends only ``status``); back to the board."""
    form = {"dose": dose, "frequency": frequency, "status": status}
    form |= {"hold_days": hold_days, "hold_note": hold_note, "note": note}
    raw: dict[str, Any] = {"status": status} if status else {}
    if dose or frequency:  # the full change form (the Stop button sends only the status)
        raw |= {
            "dose": _optional(dose),
            "frequency": frequency,
            "hold_days": _whole(hold_days),
            "hold_note": _optional(hold_note),
            "note": _optional(note),
        }
    try:
        body = MedicationUpdate.model_validate(raw)
        async with session.begin_nested():
            row = await medications.update_medication(
                session,
                medication_id,
                body,
                expected_version=form_version(version) or 0,
                actor=actor,
                today=_today(),
            )
    except (ValidationError, ValidationFailed) as exc:
        errors = _refused(exc)
        return await _page(request, session, actor, plan_id, change=(medication_id, form, errors), status=422)
    return see_other(f"/plans/{row.plan_id}#medication-{row.id}")


def _today() -> date:
    return datetime.now(UTC).date()
