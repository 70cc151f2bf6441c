"""Protocol templates: IPM leads keep them (every save a new version, old versions kept), anyone signed in
reads them (they hold no patient data), and whoever shapes a plan applies an active one: its goals and
tasks made on the plan through plans' own writes (their events and audit rows), gates wired, due dates
from the start date, and the application recorded against the version, all in one unit of work."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta

from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from careteam.audit import service as audit
from careteam.audit.codes import AuditAction
from careteam.core.actor import Actor
from careteam.core.errors import Conflict, Forbidden, NotFound, ValidationFailed
from careteam.core.vocab import Discipline
from careteam.db.types import utcnow
from careteam.plans import board
from careteam.plans import service as plans
from careteam.plans import tasks as plan_tasks
from careteam.plans.codes import TaskStatus
from careteam.plans.schemas import GoalCreate, TaskCreate
from careteam.protocols.codes import ProtocolEvent, TemplateStatus
from careteam.protocols.schemas import (
    ApplicationPublic,
    ApplyTemplate,
    TemplateBody,
    TemplateGoal,
    TemplateGoalPublic,
    TemplatePublic,
    TemplateSummary,
    TemplateTask,
    TemplateTaskPublic,
    gate_order,
)
from careteam.protocols.tables import (
    ProtocolApplication,
    ProtocolGoal,
    ProtocolTask,
    ProtocolTemplate,
    ProtocolVersion,
)


def may_maintain(actor: Actor) -> bool:
    """IPM leads keep the clinic's protocols (the account's discipline, as for registering patients)."""
    return actor.discipline is Discipline.ipm_lead


def _ensure_maintainer(actor: Actor) -> None:
    if not may_maintain(actor):
        raise Forbidden("Only an IPM lead maintains the clinic's protocol templates.")


async def list_templates(session: AsyncSession, *, actor: Actor) -> list[TemplateSummary]:
    """Every template at its newest version, active first, then by name (counts of goals and tasks)."""
    goals = (
        select(col(ProtocolGoal.version_id), func.count().label("n"))
        .group_by(col(ProtocolGoal.version_id))
        .subquery()
    )
    tasks = (
        select(col(ProtocolTask.version_id), func.count().label("n"))
        .group_by(col(ProtocolTask.version_id))
        .subquery()
    )
    rows = await session.exec(
        select(ProtocolTemplate, ProtocolVersion, goals.c.n, tasks.c.n)
        .join(
            ProtocolVersion,
            (col(ProtocolVersion.template_id) == col(ProtocolTemplate.id))
            & (col(ProtocolVersion.number) == col(ProtocolTemplate.version)),
        )
        .outerjoin(goals, goals.c.version_id == col(ProtocolVersion.id))
        .outerjoin(tasks, tasks.c.version_id == col(ProtocolVersion.id))
        .order_by(col(ProtocolTemplate.status) != TemplateStatus.active, col(ProtocolTemplate.name))
    )
    return [
        TemplateSummary(
            id=t.id or 0,
            name=t.name,
            status=TemplateStatus(t.status),
            version=t.version,
            description=v.description,
            goals=int(g or 0),
            tasks=int(n or 0),
        )
        for t, v, g, n in rows
    ]


async def get_template(
    session: AsyncSession, template_id: int, *, actor: Actor, version: int | None = None
) -> TemplatePublic:
    """A template at its newest version (or at ``version``, kept since)."""
    template = await session.get(ProtocolTemplate, template_id)
    if template is None:
        raise NotFound("No such protocol template.")
    row = (
        await session.exec(
            select(ProtocolVersion).where(
                ProtocolVersion.template_id == template_id,
                ProtocolVersion.number == (version or template.version),
            )
        )
    ).first()
    if row is None:
        raise NotFound("No such version of this protocol template.")
    return await _public(session, template, row)


async def create_template(session: AsyncSession, body: TemplateBody, *, actor: Actor) -> TemplatePublic:
    """A new template at version 1 (IPM leads)."""
    _ensure_maintainer(actor)
    template = ProtocolTemplate(name=body.name, status=body.status, version=1)
    session.add(template)
    await session.flush()
    version = await _save_version(session, template, body, number=1, actor=actor)
    audit.record(session, actor, AuditAction.create, "protocol_template", template.id)
    return await _public(session, template, version)


async def update_template(
    session: AsyncSession, template_id: int, body: TemplateBody, *, expected_version: int, actor: Actor
) -> TemplatePublic:
    """Save a template again as its next version; the versions before stay, as do the plans they made.
    412 if someone saved it first."""
    _ensure_maintainer(actor)
    template = (
        await session.exec(
            select(ProtocolTemplate).where(ProtocolTemplate.id == template_id).with_for_update()
        )
    ).first()
    if template is None:
        raise NotFound("No such protocol template.")
    if template.version != expected_version:
        raise Conflict(
            "Someone saved this protocol template first.",
            current=await get_template(session, template_id, actor=actor),
        )
    template.version += 1
    template.name, template.status, template.updated_at = body.name, body.status, utcnow()
    session.add(template)
    version = await _save_version(session, template, body, number=template.version, actor=actor)
    audit.record(session, actor, AuditAction.update, "protocol_template", template.id)
    return await _public(session, template, version)


async def apply_template(
    session: AsyncSession, plan_id: int, body: ApplyTemplate, *, actor: Actor, today: date
) -> ApplicationPublic:
    """Put an active template's goals and tasks on a plan (its lead or physicians): each task in its lane,
    requested, due ``start + offset``, its gates wired to the tasks made with it; each goal due the same
    way. Every viewer of the board sees them arrive; the plan records which version made which."""
    patient_id = await plans.plan_to_shape(session, plan_id, actor=actor)
    template = await session.get(ProtocolTemplate, body.template_id)
    if template is None:
        raise ValidationFailed("No such protocol template.", field="body.template_id")
    if template.status != TemplateStatus.active:
        raise ValidationFailed(
            f"\u201c{template.name}\u201d is {template.status}: only an active template is applied.",
            field="body.template_id",
        )
    version = (
        await session.exec(
            select(ProtocolVersion).where(
                ProtocolVersion.template_id == template.id, ProtocolVersion.number == template.version
            )
        )
    ).one()
    start = body.start_date or today
    goals, tasks = await _items(session, version.id or 0)
    goal_ids = []
    for goal in goals:
        made = await plans.add_goal(
            session,
            plan_id,
            GoalCreate(description=goal.description, target=goal.target, due_date=_due(start, goal)),
            actor=actor,
        )
        goal_ids.append(made.id or 0)
    specs = [_spec(t) for t in tasks]
    made_ids: dict[str, int] = {}
    for index in gate_order(specs) or range(len(specs)):
        task = tasks[index]
        made_task = await plan_tasks.create_task(
            session,
            plan_id,
            TaskCreate(
                title=task.title,
                description=task.description,
                discipline=Discipline(task.discipline),
                priority=specs[index].priority,
                status=TaskStatus.requested,
                due_date=_due(start, task),
            ),
            actor=actor,
            gate_task_ids=[made_ids[g] for g in task.gates],
        )
        made_ids[task.key] = made_task.id or 0
    application = ProtocolApplication(
        plan_id=plan_id,
        version_id=version.id or 0,
        start_date=start,
        goal_ids=goal_ids,
        task_ids=[made_ids[t.key] for t in tasks],
        applied_by_id=actor.user_id,
    )
    session.add(application)
    await session.flush()
    public = _application_public(application, template, version)
    await board.record(session, plan_id, ProtocolEvent.applied, public, actor=actor)
    audit.record(
        session, actor, AuditAction.create, "protocol_application", application.id, patient_id=patient_id
    )
    return public


async def plan_applications(session: AsyncSession, plan_id: int) -> list[ApplicationPublic]:
    """The templates applied to a plan, oldest first (not audited: for a caller that read the plan)."""
    rows = await session.exec(
        select(ProtocolApplication, ProtocolVersion, ProtocolTemplate)
        .join(ProtocolVersion, col(ProtocolVersion.id) == col(ProtocolApplication.version_id))
        .join(ProtocolTemplate, col(ProtocolTemplate.id) == col(ProtocolVersion.template_id))
        .where(ProtocolApplication.plan_id == plan_id)
        .order_by(col(ProtocolApplication.id))
    )
    return [_application_public(a, t, v) for a, v, t in rows]


async def active_templates(session: AsyncSession) -> list[tuple[int, str, int]]:
    """Active templates (id, name, version) by name: the board's "Apply protocol" choices."""
    rows = await session.exec(
        select(col(ProtocolTemplate.id), col(ProtocolTemplate.name), col(ProtocolTemplate.version))
        .where(ProtocolTemplate.status == TemplateStatus.active)
        .order_by(col(ProtocolTemplate.name))
    )
    return [(int(i or 0), n, int(v)) for i, n, v in rows]


def _due(start: date, item: ProtocolGoal | ProtocolTask) -> date | None:
    return None if item.due_offset_days is None else start + timedelta(days=item.due_offset_days)


def _spec(task: ProtocolTask) -> TemplateTask:
    return TemplateTask.model_validate(
        {
            "key": task.key,
            "title": task.title,
            "discipline": task.discipline,
            "priority": task.priority,
            "due_offset_days": task.due_offset_days,
            "description": task.description,
            "gates": task.gates,
        }
    )


async def _save_version(
    session: AsyncSession, template: ProtocolTemplate, body: TemplateBody, *, number: int, actor: Actor
) -> ProtocolVersion:
    version = ProtocolVersion(
        template_id=template.id or 0,
        number=number,
        name=body.name,
        description=body.description,
        status=body.status,
        author_id=actor.user_id,
    )
    session.add(version)
    await session.flush()
    session.add_all(_goal_rows(version.id or 0, body.goals))
    session.add_all(
        ProtocolTask(version_id=version.id or 0, position=i, **t.model_dump())
        for i, t in enumerate(body.tasks)
    )
    await session.flush()
    return version


def _goal_rows(version_id: int, goals: Sequence[TemplateGoal]) -> list[ProtocolGoal]:
    return [ProtocolGoal(version_id=version_id, position=i, **g.model_dump()) for i, g in enumerate(goals)]


async def _items(session: AsyncSession, version_id: int) -> tuple[list[ProtocolGoal], list[ProtocolTask]]:
    goals = await session.exec(
        select(ProtocolGoal).where(ProtocolGoal.version_id == version_id).order_by(col(ProtocolGoal.position))
    )
    tasks = await session.exec(
        select(ProtocolTask).where(ProtocolTask.version_id == version_id).order_by(col(ProtocolTask.position))
    )
    return list(goals), list(tasks)


async def _public(
    session: AsyncSession, template: ProtocolTemplate, version: ProtocolVersion
) -> TemplatePublic:
    goals, tasks = await _items(session, version.id or 0)
    return TemplatePublic(
        id=template.id or 0,
        name=version.name,
        description=version.description,
        status=TemplateStatus(version.status if version.number != template.version else template.status),
        version=version.number,
        version_id=version.id or 0,
        latest_version=template.version,
        author_id=version.author_id,
        saved_at=version.created_at,
        goals=[TemplateGoalPublic.model_validate(g) for g in goals],
        tasks=[TemplateTaskPublic.model_validate(t) for t in tasks],
    )


def _application_public(
    application: ProtocolApplication, template: ProtocolTemplate, version: ProtocolVersion
) -> ApplicationPublic:
    return ApplicationPublic(
        id=application.id or 0,
        plan_id=application.plan_id,
        template_id=template.id or 0,
        template_name=version.name,
        version=version.number,
        version_id=version.id or 0,
        start_date=application.start_date,
        goal_ids=list(application.goal_ids),
        task_ids=list(application.task_ids),
        applied_by_id=application.applied_by_id,
        applied_at=application.applied_at,
    )
