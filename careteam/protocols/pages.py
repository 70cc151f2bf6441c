"""Protocol templates' HTML: the list (``/templates``), one template with its versions and, for IPM leads,
the form that saves its next version (``/templates/{id}``, ``/templates/new``), and the board's "Apply
protocol" panel (``plans.pages.add_board_panel``) for the plan's lead and physicians.

Forms are plain: one service call, then 303; a refused one shows the page again with the errors and what
was typed, nothing stored. The template form has a fixed number of blank rows below the saved ones; a
blank row is left out, and saving shows the page again with fresh blank rows.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import Response
from pydantic import ValidationError
from sqlmodel.ext.asyncio.session import AsyncSession

from careteam.core.actor import Actor
from careteam.core.errors import Forbidden, ValidationFailed
from careteam.core.vocab import DISCIPLINE_LABELS, Discipline
from careteam.plans import pages as plan_pages
from careteam.plans import service as plans
from careteam.plans.board import Board
from careteam.plans.codes import TaskPriority
from careteam.protocols import service as protocols
from careteam.protocols.codes import TemplateStatus
from careteam.protocols.schemas import ApplyTemplate, TemplateBody, TemplatePublic
from careteam.web.deps import Id
from careteam.web.forms import Db, Editor, PageRoute, Viewer, form_version, see_other
from careteam.web.templating import render

router = APIRouter(route_class=PageRoute, include_in_schema=False)

BLANK_GOALS = 2
BLANK_TASKS = 3
LANES = [(d.value, DISCIPLINE_LABELS[d]) for d in Discipline]
PRIORITIES = [(p.value, p.value.capitalize()) for p in TaskPriority]
STATUSES = [(s.value, s.value.capitalize()) for s in TemplateStatus]
GOAL_FIELDS = ("description", "target", "offset")
TASK_FIELDS = ("key", "title", "discipline", "priority", "offset", "gates", "description")


def _rows(template: TemplatePublic | None) -> dict[str, Any]:
    """The form's values: the saved goals and tasks, then blank rows."""
    goals = [
        {"description": g.description, "target": g.target, "offset": _text(g.due_offset_days)}
        for g in (template.goals if template else [])
    ]
    tasks = [
        {
            "key": t.key,
            "title": t.title,
            "discipline": t.discipline.value,
            "priority": t.priority.value,
            "offset": _text(t.due_offset_days),
            "gates": ", ".join(t.gates),
            "description": t.description,
        }
        for t in (template.tasks if template else [])
    ]
    return {
        "name": template.name if template else "",
        "description": template.description if template else "",
        "status": template.status.value if template else TemplateStatus.draft.value,
        "goals": goals + [dict.fromkeys(GOAL_FIELDS, "") for _ in range(BLANK_GOALS)],
        "tasks": tasks
        + [{**dict.fromkeys(TASK_FIELDS, ""), "priority": "routine"} for _ in range(BLANK_TASKS)],
    }


def _text(value: int | None) -> str:
    return "" if value is None else str(value)


def _offset(raw: str) -> int | str | None:
    raw = raw.strip()
    return None if not raw else int(raw) if raw.isdigit() else raw


def _body(form: dict[str, Any]) -> TemplateBody:
    """The template a form describes; blank rows left out."""
    return TemplateBody.model_validate(
        {
            "name": form["name"],
            "description": form["description"],
            "status": form["status"],
            "goals": [
                {
                    "description": g["description"],
                    "target": g["target"],
                    "due_offset_days": _offset(g["offset"]),
                }
                for g in form["goals"]
                if g["description"].strip()
            ],
            "tasks": [
                {
                    "key": t["key"].strip().lower() or f"task-{i + 1}",
                    "title": t["title"],
                    "discipline": t["discipline"],
                    "priority": t["priority"] or "routine",
                    "due_offset_days": _offset(t["offset"]),
                    "gates": [g.strip().lower() for g in t["gates"].split(",") if g.strip()],
                    "description": t["description"],
                }
                for i, t in enumerate(form["tasks"])
                if t["title"].strip()
            ],
        }
    )


def _messages(exc: ValidationError) -> dict[str, str]:
    """Every problem, each once, in words: "Task 2, title: ..." (the form is long: all of them at once)."""
    out: dict[str, str] = {}
    for err in exc.errors():
        loc = [str(x) for x in err["loc"]]
        where = ", ".join(
            f"{loc[i].rstrip('s').capitalize()} {int(loc[i + 1]) + 1}"
            if loc[i] in ("goals", "tasks") and i + 1 < len(loc) and loc[i + 1].isdigit()
            else loc[i]
            for i in range(len(loc))
            if not loc[i].isdigit()
        )
        message = str(err["msg"]).removeprefix("Value error, ")
        out[".".join(loc) or message] = f"{where}: {message}" if where else message
    return out


async def _form_page(
    request: Request,
    actor: Actor,
    *,
    template: TemplatePublic | None,
    form: dict[str, Any],
    errors: dict[str, str] | None = None,
    status: int = 200,
    versions: list[int] | None = None,
) -> Response:
    context = {
        "section": "templates",
        "template": template,
        "form": form,
        "errors": errors or {},
        "may_edit": protocols.may_maintain(actor),
        "lanes": LANES,
        "priorities": PRIORITIES,
        "statuses": STATUSES,
        "lane_names": dict(LANES),
        "versions": versions or [],
    }
    return render(request, "protocols/template.html", context, status_code=status)


@router.get("/templates")
async def templates_page(request: Request, session: Db, actor: Viewer) -> Response:
    """The clinic's protocol templates; IPM leads add and edit them, everyone reads them."""
    items = await protocols.list_templates(session, actor=actor)
    context = {"section": "templates", "items": items, "may_edit": protocols.may_maintain(actor)}
    return render(request, "protocols/list.html", context)


@router.get("/templates/new")
async def new_template_page(request: Request, actor: Viewer) -> Response:
    """The form for a new template (IPM leads)."""
    if not protocols.may_maintain(actor):
        raise Forbidden("Only an IPM lead maintains the clinic's protocol templates.")
    return await _form_page(request, actor, template=None, form=_rows(None))


@router.get("/templates/{template_id}")
async def template_page(
    request: Request,
    template_id: Id,
    session: Db,
    actor: Viewer,
    version: Annotated[int | None, Query(ge=1, lt=2**31)] = None,
) -> Response:
    """A template at its newest version (or an older one, read-only), and for IPM leads its form."""
    template = await protocols.get_template(session, template_id, actor=actor, version=version)
    return await _form_page(
        request,
        actor,
        template=template,
        form=_rows(template),
        versions=list(range(template.latest_version, 0, -1)),
    )


def _read_form(
    name: str,
    description: str,
    status: str,
    goals: tuple[list[str], ...],
    tasks: tuple[list[str], ...],
) -> dict[str, Any]:
    return {
        "name": name,
        "description": description,
        "status": status,
        "goals": [dict(zip(GOAL_FIELDS, row, strict=True)) for row in zip(*goals, strict=False)],
        "tasks": [dict(zip(TASK_FIELDS, row, strict=True)) for row in zip(*tasks, strict=False)],
    }


Many = Annotated[list[str], Form()]


@router.post("/templates")
async def create_template(
    request: Request,
    session: Db,
    actor: Editor,
    name: Annotated[str, Form()] = "",
    description: Annotated[str, Form()] = "",
    status: Annotated[str, Form()] = "draft",
    goal_description: Many = [],  # noqa: B006 - FastAPI reads the default, never mutates it
    goal_target: Many = [],  # noqa: B006
    goal_offset: Many = [],  # noqa: B006
    task_key: Many = [],  # noqa: B006
    task_title: Many = [],  # noqa: B006
    task_discipline: Many = [],  # noqa: B006
    task_priority: Many = [],  # noqa: B006
    task_offset: Many = [],  # noqa: B006
    task_gates: Many = [],  # noqa: B006
    task_description: Many = [],  # noqa: B006
) -> Response:
    """Save a new template; to its page."""
    form = _read_form(
        name,
        description,
        status,
        (goal_description, goal_target, goal_offset),
        (task_key, task_title, task_discipline, task_priority, task_offset, task_gates, task_description),
    )
    try:
        body = _body(form)
    except ValidationError as exc:
        return await _form_page(request, actor, template=None, form=form, errors=_messages(exc), status=422)
    template = await protocols.create_template(session, body, actor=actor)
    return see_other(f"/templates/{template.id}")


@router.post("/templates/{template_id}")
async def update_template(
    request: Request,
    template_id: Id,
    session: Db,
    actor: Editor,
    version: Annotated[str, Form()] = "",
    name: Annotated[str, Form()] = "",
    description: Annotated[str, Form()] = "",
    status: Annotated[str, Form()] = "draft",
    goal_description: Many = [],  # noqa: B006
    goal_target: Many = [],  # noqa: B006
    goal_offset: Many = [],  # noqa: B006
    task_key: Many = [],  # noqa: B006
    task_title: Many = [],  # noqa: B006
    task_discipline: Many = [],  # noqa: B006
    task_priority: Many = [],  # noqa: B006
    task_offset: Many = [],  # noqa: B006
    task_gates: Many = [],  # noqa: B006
    task_description: Many = [],  # noqa: B006
) -> Response:
    """Save a template's next version; to its page. 412: someone saved it first (the page says so)."""
    current = await protocols.get_template(session, template_id, actor=actor)
    form = _read_form(
        name,
        description,
        status,
        (goal_description, goal_target, goal_offset),
        (task_key, task_title, task_discipline, task_priority, task_offset, task_gates, task_description),
    )
    try:
        body = _body(form)
    except ValidationError as exc:
        return await _form_page(
            request,
            actor,
            template=current,
            form=form,
            errors=_messages(exc),
            status=422,
            versions=list(range(current.latest_version, 0, -1)),
        )
    await protocols.update_template(
        session, template_id, body, expected_version=form_version(version) or 0, actor=actor
    )
    return see_other(f"/templates/{template_id}")


# --- On the board: "Apply protocol" --------------------------------------------------------------------


async def _apply_context(
    session: AsyncSession, plan_id: int, applied: list[Any], may_apply: bool
) -> dict[str, Any]:
    choices = await protocols.active_templates(session) if may_apply else []
    return {
        "plan_id": plan_id,
        "applied": applied,
        "may_apply": may_apply,
        "choices": [(str(i), f"{name} (version {v})") for i, name, v in choices],
        "errors": {},
        "form": {"template_id": "", "start_date": ""},
    }


async def _board_panel(session: AsyncSession, board: Board, actor: Actor) -> plan_pages.BoardPanel | None:
    """The protocols applied to the plan, and for its lead and physicians the form that applies one."""
    me = board.member(actor.user_id)
    if me is None:
        return None  # a plan lent for a conference
    applied = await protocols.plan_applications(session, board.plan.id)
    context = await _apply_context(
        session, board.plan.id, applied, plans.shapes_plans(me.role, me.discipline)
    )
    return plan_pages.BoardPanel("protocols/board_panel.html", context)


plan_pages.add_board_panel(_board_panel)


@router.post("/plans/{plan_id}/apply-template")
async def apply_template(
    request: Request,
    plan_id: Id,
    session: Db,
    actor: Editor,
    template_id: Annotated[str, Form()] = "",
    start_date: Annotated[str, Form()] = "",
) -> Response:
    """Apply a protocol to the plan; back to its board, where its goals and tasks have arrived. Refused:
    the form again on a page of its own, with the reason and what was chosen."""
    errors: dict[str, str] = {}
    try:
        body = ApplyTemplate.model_validate(
            {"template_id": template_id or None, "start_date": start_date.strip() or None}
        )
        async with session.begin_nested():
            await protocols.apply_template(
                session, plan_id, body, actor=actor, today=datetime.now(UTC).date()
            )
    except ValidationError as exc:
        for err in exc.errors():
            name = str(err["loc"][0]) if err["loc"] else "template_id"
            errors.setdefault(name, APPLY_HINTS.get(name, str(err["msg"])))
    except ValidationFailed as exc:
        errors[exc.field.removeprefix("body.")] = exc.detail
    if not errors:
        return see_other(f"/plans/{plan_id}#protocols")
    patient_id = await plans.plan_to_shape(session, plan_id, actor=actor)
    context = await _apply_context(session, plan_id, [], True)
    context |= {"errors": errors, "form": {"template_id": template_id, "start_date": start_date}}
    page = {"section": "patients", "p": context, "patient_id": patient_id}
    return render(request, "protocols/apply.html", page, status_code=422)


APPLY_HINTS = {
    "template_id": "Choose a protocol.",
    "start_date": "Give the start date as a date, e.g. 2026-12-07.",
}
