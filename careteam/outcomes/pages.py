"""Outcome measures' HTML: a sparkline per measure in the board's header (through
``plans.pages.add_board_panel``, placed in the head), each goal's achievement in its card's slot
(``goal-extra``), each block's response on its task's card; and the plan's outcomes page: its goals
judged by a measure, a chart per measure (target lines, procedure dates) with its scores as a table, its
procedure responses, the forms that record a score or a response, and a withdraw form for each.

All stay live from the plan's stream: ``outcomes.js`` fetches the server-rendered part again
(``/plans/{id}/outcomes/sparklines``, ``.../goals`` or ``.../charts``) when a ``measure.*``, ``goal.*`` or
``response.*`` event arrives, so the drawing is made in one place, here; a block's response on its card is
the event's data. Forms are plain: one service call, then 303 back; a refused one shows the page again
with the field's error, nothing stored.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response
from markupsafe import Markup
from pydantic import ValidationError
from sqlmodel.ext.asyncio.session import AsyncSession

from careteam.accounts import service as accounts
from careteam.core.actor import Actor
from careteam.core.errors import ValidationFailed
from careteam.outcomes import charts, responses
from careteam.outcomes import service as outcomes
from careteam.outcomes.codes import MEASURES, Measure, ObservationStatus
from careteam.outcomes.progress import ACHIEVEMENT_LABELS
from careteam.outcomes.schemas import EnteredInError, GoalProgressPublic, ObservationCreate, ResponseCreate
from careteam.outcomes.tables import Observation, ProcedureResponse
from careteam.patients import service as patients
from careteam.plans import pages as plan_pages
from careteam.plans import service as plans
from careteam.plans import tasks as plan_tasks
from careteam.plans.board import Board, audited_plan
from careteam.plans.codes import TaskStatus
from careteam.plans.schemas import GoalPublic
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
WITHDRAW_HINTS = {"reason": "Say why it is withdrawn (up to 1000 characters)."}
RESPONSE_HINTS = {
    "task_id": "Choose the procedure's task.",
    "relief_percent": "Give the relief as a whole percentage from 0 to 100.",
    "duration_hours": "Give the block's expected duration in hours (more than 0, up to 168).",
    "observed_at": "Give the date and time it was observed, not in the future.",
    "note": "A note is up to 1000 characters.",
}
RECORD_FIELDS = ("measure", "value", "peg1", "peg2", "peg3", "effective_at", "note")
RESPONSE_FIELDS = ("task_id", "relief_percent", "duration_hours", "observed_at", "note")
# The lanes whose tasks the response form offers: procedures are the IPM physicians' (the API takes any task).
PROCEDURE_LANES = frozenset({"physician", "ipm_lead"})
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


@dataclass(frozen=True, slots=True)
class TaskGlance:
    id: int
    title: str
    discipline: str
    status: str
    status_changed_at: datetime | None


@dataclass(frozen=True, slots=True)
class Outcomes:
    """What the outcomes page draws, read once: scores, goals, responses and the plan's tasks."""

    rows: Sequence[Observation]
    goals: Sequence[GoalPublic]
    blocks: Sequence[ProcedureResponse]
    tasks: Sequence[TaskGlance]


async def _read(session: AsyncSession, plan_id: int, actor: Actor) -> Outcomes:
    """The page's data, after the caller's audited read of the plan (the task list audits it once more)."""
    rows = await outcomes.checked_plan_scores(session, plan_id)
    goals = await plans.plan_goals(session, plan_id)
    blocks = await responses.checked_plan_responses(session, plan_id)
    tasks, _ = await plan_tasks.list_tasks(session, plan_id, actor=actor, limit=500)
    glances = [TaskGlance(t.id or 0, t.title, t.discipline, t.status, t.status_changed_at) for t in tasks]
    return Outcomes(rows, goals, blocks, glances)


def _procedures(data: Outcomes) -> list[dict[str, Any]]:
    """Per task with a response: when it was done (its completion or its first response, whichever came
    first: relief is observed after the block), its title and its latest response, for the charts' marks."""
    titles = {t.id: t for t in data.tasks}
    by_task: dict[int, list[ProcedureResponse]] = {}
    for r in data.blocks:
        if r.status == ObservationStatus.final:
            by_task.setdefault(r.task_id, []).append(r)
    out = []
    for task_id, mine in by_task.items():
        task = titles.get(task_id)
        latest = mine[-1]
        at = mine[0].observed_at
        if task is not None and task.status == TaskStatus.completed and task.status_changed_at is not None:
            at = min(at, task.status_changed_at)
        verdict = responses.result(latest.relief_percent, latest.threshold).value
        words = f"{latest.relief_percent}% relief over {latest.duration_hours:g} h, {verdict}"
        out.append({"at": at, "title": task.title if task else "A procedure", "words": words})
    return sorted(out, key=lambda p: p["at"])


async def _charts(session: AsyncSession, data: Outcomes) -> dict[str, Any]:
    """Per measure with any score: its chart (its goals' target lines, the procedures' dates) and its
    scores (newest first) for the table beside it; the goals judged by a measure; the responses."""
    rows = data.rows
    names = await accounts.display_names(
        session,
        {r.author_id for r in rows}
        | {r.withdrawn_by_id for r in rows if r.withdrawn_by_id}
        | {r.author_id for r in data.blocks}
        | {r.withdrawn_by_id for r in data.blocks if r.withdrawn_by_id},
    )
    progress = _progress(data.goals, rows)
    procedures = _procedures(data)
    marks = [charts.Mark(p["at"], f"{p['title']}: {p['words']}") for p in procedures]
    goals = {g.id: g for g in data.goals}
    out = []
    for measure in Measure:
        mine = [r for r in rows if r.measure == measure]
        if not mine:
            continue
        spec = MEASURES[measure]
        points = _points(rows, measure)
        targets = [
            charts.TargetLine(p.value, _target_words(p, goals[p.goal_id]))
            for p in progress
            if p.measure == measure
        ]
        out.append(
            {
                "measure": measure.value,
                "display": spec.display,
                "title": spec.title,
                "summary": charts.described(measure, points, targets, marks),
                "svg": charts.chart(
                    measure, points, ident=f"chart-{measure.value}", targets=targets, marks=marks
                ),
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
    titles = {t.id: t.title for t in data.tasks}
    return {
        "charts": out,
        "goals": [
            {
                "id": p.goal_id,
                "description": p.description,
                "target": _target_words(p, goals[p.goal_id]),
                "badge": progress_badge(p),
            }
            for p in progress
        ],
        "procedures": [
            {
                "id": r.id,
                "version": r.version,
                "task_id": r.task_id,
                "task": titles.get(r.task_id, "A task"),
                "when": charts.day(r.observed_at) + f" {r.observed_at:%H:%M}",
                "relief": f"{r.relief_percent}%",
                "duration": f"{r.duration_hours:g} h",
                "result": responses.result(r.relief_percent, r.threshold).value,
                "threshold": f"{r.threshold}%",
                "note": r.note or "",
                "author": names.get(r.author_id, "Unknown"),
                "withdrawn": r.status == ObservationStatus.entered_in_error,
                "reason": r.error_reason or "",
                "withdrawn_by": names.get(r.withdrawn_by_id or 0, ""),
            }
            for r in reversed(data.blocks)
        ],
        "procedure_dates": procedures,
    }


def _target_words(progress: GoalProgressPublic, goal: GoalPublic) -> str:
    """ "Goal “PEG from 7 to 4 or less”: PEG ≤ 4 by 15 Feb 2027"."""
    words = f"Goal “{goal.description}”: {plan_pages.measure_words(progress.model_dump())}"
    if goal.due_date is not None:
        words += f" by {goal.due_date.day} {goal.due_date:%b %Y}"
    return words


# --- Goals judged by a measure, and blocks' responses ----------------------------------------------------


def progress_badge(progress: GoalProgressPublic) -> Markup:
    """A goal's achievement as its card and the outcomes page show it: "Improving · latest PEG 6"."""
    spec = MEASURES[progress.measure]
    latest = (
        f"latest {spec.display} {charts.score(spec, progress.latest)}"
        if progress.latest is not None
        else "no score yet"
    )
    return Markup(
        '<span class="goal-progress goal-progress--{0}" data-achievement="{0}">'
        '<span class="goal-progress__status">{1}</span><span class="goal-progress__detail">{2}</span></span>'
    ).format(progress.status.value, ACHIEVEMENT_LABELS[progress.status], latest)


def _progress(goals: Sequence[GoalPublic], rows: Sequence[Observation]) -> list[GoalProgressPublic]:
    return outcomes.goal_progress(goals, rows, today=datetime.now(UTC).date())


def _response_json(row: ProcedureResponse) -> dict[str, Any]:
    return responses.public(row).model_dump(mode="json")


# --- On the board: the header's sparklines, the goals' achievement, the cards' responses ----------------


async def _board_head(session: AsyncSession, board: Board, actor: Actor) -> plan_pages.BoardPanel | None:
    """The plan's sparklines in the board's header, for its care team (``board.members``; a plan lent for a
    conference shows no scores): one statement, the board page having checked and audited its read."""
    if board.member(actor.user_id) is None:
        return None  # a plan lent for a conference: its board, not its scores
    plan_id = board.plan.id
    rows = await outcomes.checked_plan_scores(session, plan_id)
    blocks = await responses.checked_plan_responses(session, plan_id)
    context = {
        "plan_id": plan_id,
        "sparks": sparks(rows),
        "last_seq": board.last_seq,
        "responses": [_response_json(r) for r in blocks],
    }
    extra = {p.goal_id: progress_badge(p) for p in _progress(board.goals, rows)}
    return plan_pages.BoardPanel("outcomes/board_head.html", context, place="head", goal_extra=extra)


plan_pages.add_board_panel(_board_head)


@router.get("/plans/{plan_id}/outcomes/sparklines")
async def sparklines(request: Request, plan_id: Id, session: Db, actor: Viewer) -> Response:
    """The header's sparklines alone, for ``outcomes.js`` to put back when a score changes."""
    rows = await outcomes.plan_observations(session, plan_id, actor=actor)
    return render(request, "outcomes/sparks.html", {"p": {"plan_id": plan_id, "sparks": sparks(rows)}})


@router.get("/plans/{plan_id}/outcomes/goals")
async def goals_part(request: Request, plan_id: Id, session: Db, actor: Viewer) -> Response:
    """Each goal's achievement badge (goals judged by a measure), for ``outcomes.js`` to put in the goal
    cards' slots when a score or a goal changes."""
    rows = await outcomes.plan_observations(session, plan_id, actor=actor)
    goals = await plans.plan_goals(session, plan_id)
    items = [{"goal_id": p.goal_id, "badge": progress_badge(p)} for p in _progress(goals, rows)]
    return render(request, "outcomes/goal_badges.html", {"items": items})


# --- The plan's outcomes page ------------------------------------------------------------------------


async def _page(
    request: Request,
    session: AsyncSession,
    actor: Actor,
    plan_id: int,
    *,
    form: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    withdraw: tuple[str, int, str, str] | None = None,
    response_form: dict[str, str] | None = None,
    response_errors: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    plan = await audited_plan(session, plan_id, actor=actor)
    data = await _read(session, plan_id, actor)
    patient = await patients.get_patient(session, plan.patient_id, actor=actor)
    context = {
        "section": "patients",
        "plan": plan,
        "patient": patient,
        **await _charts(session, data),
        "procedure_tasks": [(str(t.id), t.title) for t in data.tasks if t.discipline in PROCEDURE_LANES],
        "response_form": response_form or dict.fromkeys(RESPONSE_FIELDS, "") | {"duration_hours": "6"},
        "response_errors": response_errors or {},
        "threshold": request.app.state.settings.block_relief_threshold,
        "measures": MEASURE_CHOICES,
        "peg_items": MEASURES[Measure.peg].items,
        "form": form or dict.fromkeys(RECORD_FIELDS, ""),
        "errors": errors or {},
        # ("score" or "response", its id, the reason typed, its error) when a withdraw came back without a
        # reason
        "withdraw": dict(zip(("kind", "id", "reason", "error"), withdraw, strict=True)) if withdraw else None,
        "last_seq": plan.last_seq,
    }
    return render(request, "outcomes/page.html", context, status_code=status)


@router.get("/plans/{plan_id}/outcomes")
async def outcomes_page(request: Request, plan_id: Id, session: Db, actor: Viewer) -> Response:
    """The plan's outcome measures: its goals judged by a measure, a chart and a table per measure, its
    procedure responses, and the forms that record a score or a response."""
    return await _page(request, session, actor, plan_id)


@router.get("/plans/{plan_id}/outcomes/charts")
async def charts_part(request: Request, plan_id: Id, session: Db, actor: Viewer) -> Response:
    """The page's goals, charts and tables alone, for ``outcomes.js`` to put back when a score, a goal or a
    response changes."""
    await audited_plan(session, plan_id, actor=actor)
    data = await _read(session, plan_id, actor)
    context = {**await _charts(session, data), "plan": {"id": plan_id}}
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


async def _withdraw(
    request: Request,
    session: AsyncSession,
    actor: Actor,
    kind: str,
    row_id: int,
    plan_id: int,
    version: str,
    reason: str,
) -> tuple[Response | None, Observation | ProcedureResponse | None]:
    """Withdraw a score or a response with the form's reason; the page again (422) if it has none."""
    try:
        body = EnteredInError.model_validate({"reason": reason})
    except ValidationError as exc:
        error = field_errors(exc, WITHDRAW_HINTS)["reason"]
        page = await _page(
            request, session, actor, plan_id, withdraw=(kind, row_id, reason, error), status=422
        )
        return page, None
    what = outcomes.withdraw_observation if kind == "score" else responses.withdraw_response
    row = await what(
        session, row_id, body, expected_version=form_version(version) or 0, actor=actor, now=datetime.now(UTC)
    )
    return None, row


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
    page, row = await _withdraw(request, session, actor, "score", observation_id, plan_id, version, reason)
    if page is not None or not isinstance(row, Observation):
        return page or see_other(f"/plans/{plan_id}/outcomes")
    return see_other(f"/plans/{row.plan_id}/outcomes#measure-{row.measure}")


@router.post("/responses/{response_id}/withdraw")
async def withdraw_response(
    request: Request,
    response_id: Id,
    session: Db,
    actor: Editor,
    plan_id: Annotated[int, Form()],
    version: Annotated[str, Form()] = "",
    reason: Annotated[str, Form()] = "",
) -> Response:
    """Withdraw a block response as entered in error, with a reason; back to the plan's procedures."""
    page, row = await _withdraw(request, session, actor, "response", response_id, plan_id, version, reason)
    return page or see_other(f"/plans/{row.plan_id if row else plan_id}/outcomes#procedures")


def _number(raw: str) -> float | str | None:
    raw = raw.strip()
    if not raw:
        return None
    try:
        return float(raw)
    except ValueError:
        return raw


@router.post("/plans/{plan_id}/outcomes/responses")
async def record_response(
    request: Request,
    plan_id: Id,
    session: Db,
    actor: Editor,
    task_id: Annotated[str, Form()] = "",
    relief_percent: Annotated[str, Form()] = "",
    duration_hours: Annotated[str, Form()] = "",
    observed_at: Annotated[str, Form()] = "",
    note: Annotated[str, Form()] = "",
) -> Response:
    """Record a block's response on its task; back to the plan's outcomes, at the procedures."""
    form = {
        "task_id": task_id,
        "relief_percent": relief_percent,
        "duration_hours": duration_hours,
        "observed_at": observed_at,
        "note": note,
    }
    errors: dict[str, str] = {}
    task = _whole(task_id)
    if not isinstance(task, int) or not 0 < task < 2**31:
        errors["task_id"] = RESPONSE_HINTS["task_id"]
    try:
        body = ResponseCreate.model_validate(
            {
                "relief_percent": _whole(relief_percent),
                "duration_hours": _number(duration_hours),
                "observed_at": _measured_at(observed_at),
                "note": note.strip() or None,
            }
        )
    except ValidationError as exc:
        errors |= field_errors(exc, RESPONSE_HINTS)
    if errors or not isinstance(task, int):
        return await _page(
            request, session, actor, plan_id, response_form=form, response_errors=errors, status=422
        )
    try:
        async with session.begin_nested():
            await responses.record_response(
                session,
                task,
                body,
                actor=actor,
                now=datetime.now(UTC),
                threshold=request.app.state.settings.block_relief_threshold,
            )
    except ValidationFailed as exc:
        return await _page(
            request,
            session,
            actor,
            plan_id,
            response_form=form,
            response_errors={exc.field: exc.detail},
            status=422,
        )
    return see_other(f"/plans/{plan_id}/outcomes#procedures")
