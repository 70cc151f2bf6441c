"""Outcome measures' HTML: a sparkline per measure in the board's header (through
``plans.pages.add_board_panel``, placed in the head), and the plan's outcomes page: a chart per measure
with its scores as a table, the form that records one, and a withdraw form per score.

Both stay live from the plan's stream: ``outcomes.js`` fetches the server-rendered part again
(``/plans/{id}/outcomes/sparklines`` or ``.../charts``) when a ``measure.*`` event arrives, so the drawing
is made in one place, here. Forms are plain: one service call, then 303 back; a refused one shows the page
again with the field's error, nothing stored.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response
from pydantic import ValidationError
from sqlmodel.ext.asyncio.session import AsyncSession

from careteam.accounts import service as accounts
from careteam.core.actor import Actor
from careteam.core.errors import ValidationFailed
from careteam.outcomes import charts
from careteam.outcomes import service as outcomes
from careteam.outcomes.codes import MEASURES, Measure, ObservationStatus
from careteam.outcomes.schemas import EnteredInError, ObservationCreate
from careteam.outcomes.tables import Observation
from careteam.patients import service as patients
from careteam.plans import pages as plan_pages
from careteam.plans.board import Board, audited_plan
from careteam.web.deps import Id
from careteam.web.forms import Db, Editor, PageRoute, Viewer, field_errors, form_version, see_other
from careteam.web.templating import render

router = APIRouter(route_class=PageRoute, include_in_schema=False)

RECORD_HINTS = {
    "measure": "Choose a measure.",
    "value": "Give the score as a whole number in the measure's range.",
    "items": "Give each of the three PEG items as a whole number from 0 to 10.",
    "effective_at": "Give the date and time it was measured, not in the future.",
    "note": "A note is up to 1000 characters.",
}
WITHDRAW_HINTS = {"reason": "Say why the score is withdrawn (up to 1000 characters)."}
RECORD_FIELDS = ("measure", "value", "peg1", "peg2", "peg3", "effective_at", "note")
MEASURE_CHOICES = [(m.value, f"{MEASURES[m].display}: {MEASURES[m].title}") for m in Measure]


def _points(rows: Sequence[Observation], measure: Measure) -> list[charts.Point]:
    return [
        charts.Point(r.effective_at, r.value)
        for r in rows
        if r.measure == measure and r.status == ObservationStatus.final
    ]


def sparks(rows: Sequence[Observation]) -> list[dict[str, Any]]:
    """One sparkline per measure that has a score, in the measures' order."""
    out = []
    for measure in Measure:
        points = _points(rows, measure)
        if not points:
            continue
        spec = MEASURES[measure]
        out.append(
            {
                "measure": measure.value,
                "display": spec.display,
                "latest": charts.score(spec, points[-1].value),
                "band": spec.band(points[-1].value),
                "svg": charts.sparkline(measure, points),
            }
        )
    return out


async def _charts(session: AsyncSession, rows: Sequence[Observation]) -> list[dict[str, Any]]:
    """Per measure with any score: its chart and its scores (newest first) for the table beside it."""
    names = await accounts.display_names(
        session, {r.author_id for r in rows} | {r.withdrawn_by_id for r in rows if r.withdrawn_by_id}
    )
    out = []
    for measure in Measure:
        mine = [r for r in rows if r.measure == measure]
        if not mine:
            continue
        spec = MEASURES[measure]
        points = _points(rows, measure)
        out.append(
            {
                "measure": measure.value,
                "display": spec.display,
                "title": spec.title,
                "summary": charts.summary(measure, points),
                "svg": charts.chart(measure, points, ident=f"chart-{measure.value}"),
                "item_labels": spec.items,
                "rows": [
                    {
                        "id": r.id,
                        "version": r.version,
                        "when": charts.day(r.effective_at) + f" {r.effective_at:%H:%M}",
                        "score": charts.score(spec, r.value),
                        "parts": " + ".join(str(i) for i in r.items),
                        "band": spec.band(r.value) or "",
                        "note": r.note or "",
                        "author": names.get(r.author_id, "Unknown"),
                        "withdrawn": r.status == ObservationStatus.entered_in_error,
                        "reason": r.error_reason or "",
                        "withdrawn_by": names.get(r.withdrawn_by_id or 0, ""),
                    }
                    for r in reversed(mine)
                ],
            }
        )
    return out


# --- On the board: the header's sparklines ------------------------------------------------------------


async def _board_head(session: AsyncSession, board: Board, actor: Actor) -> plan_pages.BoardPanel | None:
    """The plan's sparklines in the board's header, for its care team (``board.members``; a plan lent for a
    conference shows no scores): one statement, the board page having checked and audited its read."""
    if all(m.user_id != actor.user_id for m in board.members):
        return None  # a plan lent for a conference: its board, not its scores
    plan_id = board.plan.id
    rows = await outcomes.checked_plan_scores(session, plan_id)
    context = {"plan_id": plan_id, "sparks": sparks(rows), "last_seq": board.last_seq}
    return plan_pages.BoardPanel("outcomes/board_head.html", context, place="head")


plan_pages.add_board_panel(_board_head)


@router.get("/plans/{plan_id}/outcomes/sparklines")
async def sparklines(request: Request, plan_id: Id, session: Db, actor: Viewer) -> Response:
    """The header's sparklines alone, for ``outcomes.js`` to put back when a score changes."""
    rows = await outcomes.plan_observations(session, plan_id, actor=actor)
    return render(request, "outcomes/sparks.html", {"p": {"plan_id": plan_id, "sparks": sparks(rows)}})


# --- The plan's outcomes page ------------------------------------------------------------------------


async def _page(
    request: Request,
    session: AsyncSession,
    actor: Actor,
    plan_id: int,
    *,
    form: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    withdraw: tuple[int, str, str] | None = None,
    status: int = 200,
) -> Response:
    plan = await audited_plan(session, plan_id, actor=actor)
    rows = await outcomes.checked_plan_scores(session, plan_id)
    patient = await patients.get_patient(session, plan.patient_id, actor=actor)
    context = {
        "section": "patients",
        "plan": plan,
        "patient": patient,
        "charts": await _charts(session, rows),
        "measures": MEASURE_CHOICES,
        "peg_items": MEASURES[Measure.peg].items,
        "form": form or dict.fromkeys(RECORD_FIELDS, ""),
        "errors": errors or {},
        # (score id, the reason typed, its error) when a withdraw came back without a reason
        "withdraw": {"id": withdraw[0], "reason": withdraw[1], "error": withdraw[2]} if withdraw else None,
        "last_seq": plan.last_seq,
    }
    return render(request, "outcomes/page.html", context, status_code=status)


@router.get("/plans/{plan_id}/outcomes")
async def outcomes_page(request: Request, plan_id: Id, session: Db, actor: Viewer) -> Response:
    """The plan's outcome measures: a chart and a table per measure, and the form that records a score."""
    return await _page(request, session, actor, plan_id)


@router.get("/plans/{plan_id}/outcomes/charts")
async def charts_part(request: Request, plan_id: Id, session: Db, actor: Viewer) -> Response:
    """The page's charts and tables alone, for ``outcomes.js`` to put back when a score changes."""
    rows = await outcomes.plan_observations(session, plan_id, actor=actor)
    context = {"charts": await _charts(session, rows), "plan": {"id": plan_id}}
    return render(request, "outcomes/charts.html", context)


def _measured_at(raw: str) -> datetime | str | None:
    """The form's local date and time, read as UTC (the page says so); left as text if it is not one, so
    that validation names the field."""
    if not raw.strip():
        return None
    try:
        return datetime.fromisoformat(raw).replace(tzinfo=UTC)
    except ValueError:
        return raw


def _whole(raw: str) -> int | str | None:
    raw = raw.strip()
    if not raw:
        return None
    return int(raw) if raw.isdigit() else raw


@router.post("/plans/{plan_id}/outcomes")
async def record(
    request: Request,
    plan_id: Id,
    session: Db,
    actor: Editor,
    measure: Annotated[str, Form()] = "",
    value: Annotated[str, Form()] = "",
    peg1: Annotated[str, Form()] = "",
    peg2: Annotated[str, Form()] = "",
    peg3: Annotated[str, Form()] = "",
    effective_at: Annotated[str, Form()] = "",
    note: Annotated[str, Form()] = "",
) -> Response:
    """Record a score; back to the plan's outcomes, at the measure's chart."""
    form = {
        "measure": measure,
        "value": value,
        "peg1": peg1,
        "peg2": peg2,
        "peg3": peg3,
        "effective_at": effective_at,
        "note": note,
    }
    peg = measure == Measure.peg
    try:
        body = ObservationCreate.model_validate(
            {
                "measure": measure,
                "value": None if peg else _whole(value),
                "items": [_whole(x) for x in (peg1, peg2, peg3)] if peg else None,
                "effective_at": _measured_at(effective_at),
                "note": note.strip() or None,
            }
        )
    except ValidationError as exc:
        errors = field_errors(exc, RECORD_HINTS)
        return await _page(request, session, actor, plan_id, form=form, errors=errors, status=422)
    try:
        async with session.begin_nested():
            await outcomes.record_observation(session, plan_id, body, actor=actor, now=datetime.now(UTC))
    except ValidationFailed as exc:
        errors = {exc.field: exc.detail}
        return await _page(request, session, actor, plan_id, form=form, errors=errors, status=422)
    return see_other(f"/plans/{plan_id}/outcomes#measure-{body.measure.value}")


@router.post("/measures/{observation_id}/withdraw")
async def withdraw(
    request: Request,
    observation_id: Id,
    session: Db,
    actor: Editor,
    plan_id: Annotated[int, Form()],
    version: Annotated[str, Form()] = "",
    reason: Annotated[str, Form()] = "",
) -> Response:
    """Withdraw a score as entered in error, with a reason; back to the plan's outcomes."""
    try:
        body = EnteredInError.model_validate({"reason": reason})
    except ValidationError as exc:
        error = field_errors(exc, WITHDRAW_HINTS)["reason"]
        return await _page(
            request, session, actor, plan_id, withdraw=(observation_id, reason, error), status=422
        )
    row = await outcomes.withdraw_observation(
        session,
        observation_id,
        body,
        expected_version=form_version(version) or 0,
        actor=actor,
        now=datetime.now(UTC),
    )
    return see_other(f"/plans/{row.plan_id}/outcomes#measure-{row.measure}")
