"""Referrals' HTML pages: a referral's card with the actions its viewer may take, the list of referrals she
may see, and, on a plan's board (through ``plans.pages.add_board_panel``), the plan's referrals, kept live
by ``referrals.js``, with the form that sends one.

Every action is a plain form: one service call, then 303 back to the card. A decline, completion or revoke
without its text shows the card again with the field's error; any other refusal is the error page.
What the clock and the phases say is written twice, here and in ``referrals.js``: keep them saying the same.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import UTC, date, datetime, time
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import Response
from pydantic import ValidationError
from sqlmodel.ext.asyncio.session import AsyncSession

from careteam.accounts import service as accounts
from careteam.core.actor import Actor
from careteam.core.errors import ValidationFailed
from careteam.core.vocab import DISCIPLINE_LABELS, Discipline
from careteam.db.types import utcnow
from careteam.patients import pages as patient_pages
from careteam.patients import service as patients
from careteam.plans import pages as plan_pages
from careteam.plans import service as plans
from careteam.plans.board import Board, readable_plan
from careteam.referrals import service as referrals
from careteam.referrals.codes import (
    FINAL_STATUSES,
    PHASE_LABELS,
    PRIORITY_LABELS,
    REASONS,
    Phase,
    ReferralAnswer,
    ReferralPriority,
    ReferralStatus,
)
from careteam.referrals.routes import respond_within
from careteam.referrals.schemas import Complete, Decline, ReferralCreate, ReferralPublic, Revoke
from careteam.web.deps import Id
from careteam.web.forms import Db, Editor, PageRoute, Viewer, field_errors, see_other
from careteam.web.templating import Pager, page_number, render, status_label

router = APIRouter(route_class=PageRoute, include_in_schema=False)

REFERRALS_PER_PAGE = 50
# A board lists its plan's referrals, soonest respond-by first; a plan with more links to the list.
BOARD_PANEL_LIMIT = 100
_ON = frozenset({"1", "on", "true", "yes"})

DECLINE_HINTS = {"reason": "Say why you decline (up to 1000 characters): it goes back to the requester."}
COMPLETE_HINTS = {"outcome": "Write the outcome (up to 4000 characters): it goes back to the requester."}
REVOKE_HINTS = {"reason": "Say why it is withdrawn (up to 1000 characters)."}
REFER_HINTS = {
    "discipline": "Choose the discipline to refer to.",
    "reason": "Say what the referral is for (up to 500 characters).",
    "priority": "Choose a priority.",
    "reason_code": "Choose a reason of the chosen discipline.",
    "assignee_id": "Choose a clinician of the chosen discipline, or the whole pool.",
    "respond_by": "Give a date after today, or leave it empty.",
}


# --- What the pages say ---------------------------------------------------------------------------


def span(seconds: float) -> str:
    """A stretch of time in the largest whole unit: "3 days", "1 hour", "less than a minute"."""
    seconds = abs(seconds)
    for unit, size in (("day", 86_400), ("hour", 3_600), ("minute", 60)):
        if seconds >= size:
            n = int(seconds // size)
            return f"{n} {unit}{'' if n == 1 else 's'}"
    return "less than a minute"


def clock(referral: ReferralPublic, now: datetime) -> str:
    """How the respond-by stands while an answer is awaited ("Due in 3 days", "Overdue by 2 days"); ""
    once answered, or while not sent."""
    if referral.status != ReferralStatus.active or referral.answer is not None:
        return ""
    left = (referral.respond_by - now).total_seconds()
    return f"Overdue by {span(left)}" if referral.overdue or left < 0 else f"Due in {span(left)}"


def recipient(referral: ReferralPublic) -> str:
    """Who has it: the clinician who claimed it, the one it names, or the discipline's pool."""
    person = referral.claimed_by or referral.assignee
    if person is not None:
        return person.display_name
    return f"{DISCIPLINE_LABELS[referral.discipline]} pool"


def row(referral: ReferralPublic, now: datetime) -> dict[str, Any]:
    """A referral as a list row or a board panel row (referrals.js fills the same fields live)."""
    return {
        "id": referral.id,
        "patient": referral.patient.name,
        "discipline": DISCIPLINE_LABELS[referral.discipline],
        "reason": referral.reason,
        "recipient": recipient(referral),
        "status": PHASE_LABELS[referral.phase],
        "phase": referral.phase.value,
        "priority": PRIORITY_LABELS[referral.priority],
        "respond_by": referral.respond_by,
        # For referrals.js, which keeps the board's rows in respond-by order and ignores stale events.
        "respond_by_ms": int(referral.respond_by.timestamp() * 1000),
        "version": referral.version,
        "clock": clock(referral, now),
        "overdue": referral.overdue,
    }


def phase_times(referral: ReferralPublic, now: datetime) -> list[tuple[str, str, bool]]:
    """(phase, time spent in it, is it the current one), in the order the phases were kept, the current
    one counted up to now."""
    spent = dict(referral.phase_seconds)
    current = referral.phase.value
    spent[current] = spent.get(current, 0.0) + max((now - referral.phase_since).total_seconds(), 0.0)
    order = [p.value for p in Phase]
    return [
        (PHASE_LABELS[Phase(p)], span(spent[p]), p == current)
        for p in sorted(spent, key=lambda p: order.index(p) if p in order else len(order))
    ]


async def actions(session: AsyncSession, referral: ReferralPublic, actor: Actor) -> dict[str, bool]:
    """The actions that make sense for this viewer now (the service checks each one again)."""
    me = actor.user_id
    if referral.assignee is not None:
        is_recipient = referral.assignee.id == me
    else:
        is_recipient = referral.discipline == actor.discipline
    awaiting = referral.status == ReferralStatus.active and referral.answer is None
    claimer = referral.claimed_by.id if referral.claimed_by else None
    may_refer = referral.on_team and await plans.may_shape_plans(session, referral.patient.id, actor=actor)
    return {
        "claim": is_recipient and awaiting and claimer is None,
        "answer": is_recipient and awaiting and claimer in (None, me),
        "complete": (
            claimer == me
            and referral.answer == ReferralAnswer.accepted
            and referral.status == ReferralStatus.active
        ),
        "revoke": may_refer and referral.status not in FINAL_STATUSES,
    }


# --- A referral's card ----------------------------------------------------------------------------


async def _card(
    request: Request,
    session: AsyncSession,
    actor: Actor,
    referral_id: int,
    *,
    form: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    now = utcnow()
    referral = await referrals.get_referral(session, referral_id, actor=actor, now=now)
    context = {
        "section": "referrals",
        "r": referral,
        "view": row(referral, now),
        "reason_label": REASONS.get(referral.discipline, {}).get(referral.reason_code or ""),
        "status_text": status_label(referral.status.value),
        "phases": phase_times(referral, now),
        "actions": await actions(session, referral, actor),
        "form": {"decline_reason": "", "outcome": "", "revoke_reason": "", **(form or {})},
        "errors": dict(errors or {}),
    }
    return render(request, "referrals/card.html", context, status_code=status)


@router.get("/referrals/{referral_id}")
async def referral_card(request: Request, referral_id: Id, session: Db, actor: Viewer) -> Response:
    """A referral's card; off the care team, the minimal one (name and age, no board, no clinical notes)."""
    return await _card(request, session, actor, referral_id)


@router.post("/referrals/{referral_id}/claim")
async def claim(referral_id: Id, session: Db, actor: Editor) -> Response:
    """Take a pool referral; someone faster gets the error page naming who has it."""
    await referrals.claim_referral(session, referral_id, actor=actor)
    return see_other(f"/referrals/{referral_id}")


@router.post("/referrals/{referral_id}/accept")
async def accept(referral_id: Id, session: Db, actor: Editor) -> Response:
    """Accept: she joins the care team, and a task appears in her discipline's lane."""
    await referrals.accept_referral(session, referral_id, actor=actor)
    return see_other(f"/referrals/{referral_id}")


async def _with_text(
    request: Request,
    session: AsyncSession,
    actor: Actor,
    referral_id: int,
    schema: type[Decline] | type[Complete] | type[Revoke],
    text: tuple[str, str],
    hints: dict[str, str],
    act: Callable[[Any], Awaitable[object]],
    *,
    prefix: str = "",
) -> Response:
    """An action that needs a text (a reason, an outcome): without one, the card again with the field's
    error (named ``prefix`` + field, as the card's form names it), nothing changed; else ``act``, back."""
    name, value = text
    try:
        body = schema.model_validate({name: value})
    except ValidationError as exc:
        errors = {f"{prefix}{k}": v for k, v in field_errors(exc, hints).items()}
        form = {f"{prefix}{name}": value}
        return await _card(request, session, actor, referral_id, form=form, errors=errors, status=422)
    await act(body)
    return see_other(f"/referrals/{referral_id}")


@router.post("/referrals/{referral_id}/decline")
async def decline(
    request: Request, referral_id: Id, session: Db, actor: Editor, reason: Annotated[str, Form()] = ""
) -> Response:
    """Decline with a reason, which goes back to the requester."""

    async def act(body: Decline) -> object:
        return await referrals.decline_referral(session, referral_id, body, actor=actor)

    text = ("reason", reason)
    return await _with_text(
        request, session, actor, referral_id, Decline, text, DECLINE_HINTS, act, prefix="decline_"
    )


@router.post("/referrals/{referral_id}/complete")
async def complete(
    request: Request, referral_id: Id, session: Db, actor: Editor, outcome: Annotated[str, Form()] = ""
) -> Response:
    """Close the loop: the outcome goes back to the requester."""

    async def act(body: Complete) -> object:
        return await referrals.complete_referral(session, referral_id, body, actor=actor)

    text = ("outcome", outcome)
    return await _with_text(request, session, actor, referral_id, Complete, text, COMPLETE_HINTS, act)


@router.post("/referrals/{referral_id}/revoke")
async def revoke(
    request: Request, referral_id: Id, session: Db, actor: Editor, reason: Annotated[str, Form()] = ""
) -> Response:
    """Withdraw it, with a reason (the team's lead or physician); its open tasks are cancelled."""

    async def act(body: Revoke) -> object:
        return await referrals.revoke_referral(session, referral_id, body, actor=actor)

    text = ("reason", reason)
    return await _with_text(
        request, session, actor, referral_id, Revoke, text, REVOKE_HINTS, act, prefix="revoke_"
    )


# --- The list -------------------------------------------------------------------------------------


def _flag(raw: str) -> bool:
    return raw.strip().lower() in _ON


@router.get("/referrals")
async def referral_list(
    request: Request,
    session: Db,
    actor: Viewer,
    status: Annotated[str, Query(max_length=40)] = "",
    discipline: Annotated[str, Query(max_length=40)] = "",
    mine: str = "",
    pool: str = "",
    overdue: str = "",
    page: str = "1",
) -> Response:
    """The referrals she may see, soonest respond-by first; an unknown filter value is no filter."""
    status_value = status if status in ReferralStatus.__members__.values() else ""
    discipline_value = discipline if discipline in Discipline.__members__.values() else ""
    flags = {"mine": _flag(mine), "pool": _flag(pool), "overdue": _flag(overdue)}
    params = (
        ("status", status_value),
        ("discipline", discipline_value),
        *((name, "1") for name, on in flags.items() if on),
    )
    pager = Pager("/referrals", page_number(page), REFERRALS_PER_PAGE, 0, params)
    now = utcnow()
    items, total = await referrals.list_referrals(
        session,
        actor=actor,
        now=now,
        status=ReferralStatus(status_value) if status_value else None,
        discipline=Discipline(discipline_value) if discipline_value else None,
        offset=pager.offset,
        limit=pager.size,
        **flags,
    )
    filters = {"status": status_value, "discipline": discipline_value, **flags}
    context = {
        "section": "referrals",
        "rows": [row(r, now) for r in items],
        "filters": filters,
        "statuses": [(s.value, status_label(s.value)) for s in ReferralStatus],
        "pager": replace(pager, total=total),
    }
    return render(request, "referrals/list.html", context)


# --- On the board: the plan's referrals, and the form that sends one ----------------------------------


async def _refer_form(session: AsyncSession) -> dict[str, Any]:
    """The Refer form's choices: disciplines, their reasons, the active clinicians by discipline."""
    clinicians = await accounts.active_clinicians(session)
    return {
        "priorities": [(p.value, PRIORITY_LABELS[p]) for p in ReferralPriority],
        "reasons": [
            (DISCIPLINE_LABELS[d], [(code, label) for code, label in REASONS.get(d, {}).items()])
            for d in Discipline
            if REASONS.get(d)
        ],
        "clinicians": [
            (DISCIPLINE_LABELS[d], [(uid, name) for uid, name, disc in clinicians if disc == d.value])
            for d in Discipline
            if any(disc == d.value for _, _, disc in clinicians)
        ],
    }


_BLANK_REFER = {
    "discipline": "",
    "assignee_id": "",
    "reason_code": "",
    "reason": "",
    "priority": ReferralPriority.routine.value,
    "respond_by": "",
}


async def _board_panel(session: AsyncSession, board: Board, actor: Actor) -> plan_pages.BoardPanel:
    now = utcnow()
    items, total = await referrals.list_referrals(
        session, actor=actor, now=now, plan_id=board.plan.id, limit=BOARD_PANEL_LIMIT
    )
    # From the team the board read (a plan lent for a conference: not on it, no form).
    me = board.member(actor.user_id)
    may_refer = me is not None and plans.shapes_plans(me.role, me.discipline)
    context: dict[str, Any] = {
        "plan_id": board.plan.id,
        "rows": [row(r, now) for r in items],
        "total": total,
        "may_refer": may_refer,
        "form": dict(_BLANK_REFER),
        "errors": {},
        "labels": {
            "phases": {p.value: label for p, label in PHASE_LABELS.items()},
            "disciplines": {d.value: label for d, label in DISCIPLINE_LABELS.items()},
        },
    }
    if may_refer:
        context |= await _refer_form(session)
    return plan_pages.BoardPanel("referrals/board_panel.html", context)


plan_pages.add_board_panel(_board_panel)


def _respond_by(raw: str) -> datetime | str | None:
    """The form's date as the end of that day (UTC); "" for none; the raw text if it is not a date."""
    raw = raw.strip()
    if not raw:
        return None
    try:
        day = date.fromisoformat(raw)
    except ValueError:
        return raw
    return datetime.combine(day, time(23, 59, 59), UTC)


@router.post("/plans/{plan_id}/referrals")
async def refer(
    request: Request,
    plan_id: Id,
    session: Db,
    actor: Editor,
    discipline: Annotated[str, Form()] = "",
    assignee_id: Annotated[str, Form()] = "",
    reason_code: Annotated[str, Form()] = "",
    reason: Annotated[str, Form()] = "",
    priority: Annotated[str, Form()] = ReferralPriority.routine.value,
    respond_by: Annotated[str, Form()] = "",
) -> Response:
    """Refer the plan's patient (the team's lead or physician); back to the board, where it shows."""
    form = {
        "discipline": discipline,
        "assignee_id": assignee_id,
        "reason_code": reason_code,
        "reason": reason,
        "priority": priority,
        "respond_by": respond_by,
    }
    try:
        body = ReferralCreate.model_validate(
            {
                "plan_id": plan_id,
                "discipline": discipline,
                "assignee_id": assignee_id or None,
                "reason_code": reason_code or None,
                "reason": reason,
                "priority": priority,
                "respond_by": _respond_by(respond_by),
            }
        )
    except ValidationError as exc:
        errors = field_errors(exc, REFER_HINTS)
        return await _refer_page(request, session, actor, plan_id, form, errors)
    try:
        async with session.begin_nested():
            await referrals.create_referral(
                session, body, actor=actor, respond_within=respond_within(request)
            )
    except ValidationFailed as exc:
        return await _refer_page(request, session, actor, plan_id, form, {exc.field or "form": exc.detail})
    return see_other(f"/plans/{plan_id}#referrals")


async def _refer_page(
    request: Request,
    session: AsyncSession,
    actor: Actor,
    plan_id: int,
    form: dict[str, str],
    errors: dict[str, str],
) -> Response:
    """The Refer form again, on its own page, with what was entered and what to fix."""
    plan = await readable_plan(session, plan_id, actor)
    patient = await patients.get_patient(session, plan.patient_id, actor=actor)
    context = {
        "section": "patients",
        "plan": plan,
        "patient": patient,
        "p": {"plan_id": plan_id, "form": form, "errors": errors, **await _refer_form(session)},
    }
    return render(request, "referrals/refer.html", context, status_code=422)


# --- On the patient list: each patient's pending referrals ------------------------------------------

PENDING_REFERRALS = "Pending referrals"


async def _referral_facts(
    session: AsyncSession, patient_ids: list[int], actor: Actor
) -> dict[int, dict[str, int]]:
    """Open referrals not yet accepted, for the patients on the viewer's care teams (one query each)."""
    mine = await patients.clinical_patients_among(session, patient_ids, actor=actor)
    counts = await referrals.pending_counts(session, mine)
    return {pid: {PENDING_REFERRALS: counts.get(pid, 0)} for pid in mine}


patient_pages.add_patient_list_facts(_referral_facts, labels=(PENDING_REFERRALS,))
