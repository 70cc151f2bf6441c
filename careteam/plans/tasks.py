"""Tasks on a care plan's board: created and edited by anyone on the care team, moved by the rules of
``plans.rules`` (who may complete, cancel, …); a final move undone by its author within a short window,
or reopened as a linked follow-up task."""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from datetime import date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy import func
from sqlmodel import SQLModel, col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from careteam.audit import service as audit
from careteam.audit.codes import AuditAction
from careteam.core.actor import Actor
from careteam.core.errors import Conflict, Forbidden, InvalidTransition, NotFound, ValidationFailed
from careteam.core.vocab import Discipline
from careteam.db.engine import loaded
from careteam.db.types import utcnow
from careteam.notifications import service as notifications
from careteam.notifications.codes import NotificationKind
from careteam.patients import service as patients
from careteam.patients.codes import TeamRole
from careteam.plans import board, rules
from careteam.plans.access import readable_plan_ids, readable_plan_ids_of
from careteam.plans.board import readable_plan
from careteam.plans.codes import COLUMN_OF, Column, TaskPriority, TaskStatus
from careteam.plans.kinds import PlanEvent
from careteam.plans.schemas import ChecklistItem, TaskCreate, TaskPublic, TaskUpdate
from careteam.plans.tables import CarePlan, Task, TaskGate

_TASKS = SQLModel.metadata.tables["task"]
_PLANS = SQLModel.metadata.tables["care_plan"]
_GATES = SQLModel.metadata.tables["task_gate"]
# The columns a PATCH changes are added per request with .values(); id and version are parameters.
_UPDATE_TASK = (
    sa.update(_TASKS)
    .where(_TASKS.c.id == sa.bindparam("task_id"))
    .values(
        version=sa.bindparam("new_version", type_=_TASKS.c.version.type),
        updated_at=sa.bindparam("new_updated_at", type_=_TASKS.c.updated_at.type),
    )
)

# The task, its patient's id and the team members of its lane (whose "My work" an unassigned task is on),
# if the task's plan is one of the user's; its row locked (PostgreSQL). By ``shared``: an EMR interface
# account's plans are those of the patients shared with it.
_TASK_FOR_UPDATE = {
    shared: (
        sa.select(
            _TASKS,
            _PLANS.c.patient_id,
            patients.lane_member_ids(_PLANS.c.patient_id, _TASKS.c.discipline).label("lane_member_ids"),
        )
        .join(_PLANS, _PLANS.c.id == _TASKS.c.plan_id)
        .where(
            _TASKS.c.id == sa.bindparam("task_id"),
            _TASKS.c.plan_id.in_(readable_plan_ids_of(sa.bindparam("user_id"), shared=shared)),
        )
        .with_for_update(of=_TASKS)
    )
    for shared in (False, True)
}

# Gates' titles and statuses: what a move to ready, in progress or completed checks.
_GATE_STATES = (
    sa.select(_TASKS.c.id, _TASKS.c.title, _TASKS.c.status)
    .where(_TASKS.c.id.in_(sa.bindparam("ids", expanding=True)))
    .order_by(_TASKS.c.position, _TASKS.c.id)
)

# A gated task past these has relied on its gates: their completion can no longer be undone.
_UNDER_WAY = frozenset({TaskStatus.ready, TaskStatus.in_progress, TaskStatus.on_hold, TaskStatus.completed})

_NOT_NULL = frozenset({"title", "description", "discipline", "status", "priority", "position", "checklist"})
_MOVE_FIELDS = frozenset({"status", "position", "status_reason"})
_POSITION_STEP = 1024.0
# Where a task may start: in the To do column, or already in progress; never done, on hold or closed.
INITIAL_STATUSES = frozenset(
    {
        TaskStatus.draft,
        TaskStatus.requested,
        TaskStatus.received,
        TaskStatus.accepted,
        TaskStatus.ready,
        TaskStatus.in_progress,
    }
)


def ensure_transition(current: TaskStatus, to: TaskStatus) -> None:
    """Refuse a move the FHIR Task state machine does not allow, in column words, saying where it can go."""
    refused = rules.transition_refusal(current, to)
    if refused is not None:
        raise InvalidTransition(refused)


async def viewer(session: AsyncSession, patient_id: int, actor: Actor) -> rules.Viewer:
    """The actor as the rules see her: her role and discipline on the patient's care team. An EMR interface
    account moves the tasks of a patient shared with it with the lead's rights: the EMR records what the
    clinic did."""
    if actor.is_integration and await patients.is_shared(session, patient_id, actor.user_id):
        return rules.Viewer(user_id=actor.user_id, team_role=TeamRole.lead, discipline=Discipline.ipm_lead)
    member = await patients.membership(session, patient_id, actor.user_id)
    if member is None:
        raise Forbidden("Only the patient's care team moves its tasks.")
    return rules.Viewer(user_id=actor.user_id, team_role=member[0], discipline=member[1])


async def ensure_may_move(
    session: AsyncSession, task: Task, to: TaskStatus, *, patient_id: int, actor: Actor
) -> None:
    """Refuse a move the state machine does not allow (409) or that is not this user's to make (403)."""
    current = TaskStatus(task.status)
    ensure_transition(current, to)
    if to == current or rules.Who.team in rules.who_may(current, to):
        return  # the task is readable, so she is on its care team: no query
    refused = rules.refusal(
        await viewer(session, patient_id, actor),
        current,
        to,
        discipline=task.discipline,
        assignee_id=task.assignee_id,
        author_id=task.author_id,
    )
    if refused is not None:
        raise Forbidden(refused)


async def create_task(
    session: AsyncSession,
    plan_id: int,
    body: TaskCreate,
    *,
    actor: Actor,
    referral_id: int | None = None,
    message_id: int | None = None,
    reopened_from_id: int | None = None,
    imported_from: int | None = None,
    status_reason: str | None = None,
    gate_task_ids: Sequence[int] = (),
) -> Task:
    """Put a task on a plan's board, at the bottom of its column unless a position is given; ``referral_id``
    links it to the referral whose acceptance put it there, ``message_id`` to the message it was made from,
    ``reopened_from_id`` to the finished task it follows up. The actor is its author, except for a task
    imported from another record (``imported_from``: its author there, a clinician of this clinic), which
    keeps any status it had there, with its ``status_reason``: a record moved, not work done.

    ``gate_task_ids``: tasks of the same plan it waits for (checked by the caller: a follow-up's or a
    protocol's); a task with an open gate cannot start as ready or in progress."""
    plan = await readable_plan(session, plan_id, actor, for_update=True)
    if body.status not in INITIAL_STATUSES and imported_from is None:
        options = ", ".join(sorted(INITIAL_STATUSES))
        raise InvalidTransition(f"A new task cannot start as {body.status}; start it as one of: {options}.")
    if body.assignee_id is not None:
        await _ensure_on_team(session, plan.patient_id, body.assignee_id)
    position = body.position
    if position is None:
        highest = (await session.exec(select(func.max(Task.position)).where(Task.plan_id == plan_id))).one()
        position = (highest or 0.0) + _POSITION_STEP
    task = Task(
        plan_id=plan_id,
        title=body.title,
        description=body.description,
        discipline=body.discipline,
        assignee_id=body.assignee_id,
        status=body.status,
        priority=body.priority,
        due_date=body.due_date,
        position=position,
        checklist=[item.model_dump() for item in body.checklist],
        link=body.link,
        referral_id=referral_id,
        message_id=message_id,
        author_id=actor.user_id if imported_from is None else imported_from,
        reopened_from_id=reopened_from_id,
        status_reason=status_reason if imported_from is not None else None,
    )
    session.add(task)
    await session.flush()
    gates = sorted(set(gate_task_ids))
    if gates:
        ensure_gates_passed(await _gate_states(session, gates), TaskStatus(body.status))
        task.gates = gates
        session.add_all(TaskGate(task_id=task.id or 0, gate_task_id=g) for g in gates)
        await session.flush()
    await board.record(session, plan, PlanEvent.task_created, TaskPublic.model_validate(task), actor=actor)
    audit.record(session, actor, AuditAction.create, "task", task.id, patient_id=plan.patient_id)
    await _tell_worklists(
        session,
        task,
        patient_id=plan.patient_id,
        assignee_before=None,
        discipline_before=task.discipline,
        created=True,
        reason=PlanEvent.task_created,
        actor=actor,
    )
    return task


async def get_task(session: AsyncSession, task_id: int, *, actor: Actor) -> Task:
    """One task, if its plan is one of the actor's; audited."""
    task = await _readable_task(session, task_id, actor)
    plan = await readable_plan(session, task.plan_id, actor)
    audit.record(session, actor, AuditAction.read, "task", task.id, patient_id=plan.patient_id)
    return task


async def readable_task(session: AsyncSession, task_id: int, *, actor: Actor) -> Task:
    """The task, if its plan is one of the actor's (else not found); not audited: for a caller that audits
    the read it serves (a task's comment thread)."""
    return await _readable_task(session, task_id, actor)


async def list_tasks(
    session: AsyncSession,
    plan_id: int,
    *,
    actor: Actor,
    discipline: str | None = None,
    assignee_id: int | None = None,
    column: Column | None = None,
    overdue: bool = False,
    offset: int = 0,
    limit: int = 50,
) -> tuple[list[Task], int]:
    """A plan's tasks in board order, filtered by lane, assignee, column or overdue."""
    plan = await readable_plan(session, plan_id, actor)
    query = select(Task).where(Task.plan_id == plan_id)
    if discipline is not None:
        query = query.where(Task.discipline == discipline)
    if assignee_id is not None:
        query = query.where(Task.assignee_id == assignee_id)
    if column is not None:
        statuses = [s for s, c in COLUMN_OF.items() if c is column]
        query = query.where(col(Task.status).in_(statuses))
    if overdue:
        open_statuses = [s for s, c in COLUMN_OF.items() if c not in (Column.done, Column.closed)]
        query = query.where(col(Task.due_date) < date.today(), col(Task.status).in_(open_statuses))
    total = (await session.exec(select(func.count()).select_from(query.subquery()))).one()
    rows = list(
        await session.exec(query.order_by(col(Task.position), col(Task.id)).offset(offset).limit(limit))
    )
    audit.record(session, actor, AuditAction.read, "care_plan", plan_id, patient_id=plan.patient_id)
    return rows, int(total)


async def update_task(
    session: AsyncSession,
    task_id: int,
    body: TaskUpdate,
    *,
    expected_version: int,
    actor: Actor,
    now: datetime | None = None,
    by_rules: bool = True,
) -> Task:
    """Edit or move a task; everyone viewing the board sees it at once. 412 if someone changed it first.

    A status change follows the state machine (409) and the rules of who may make it (403; ``by_rules``
    False for the clinic's own moves, e.g. a revoked referral's tasks); a cancel needs ``status_reason``.
    """
    now = now or utcnow()
    task, patient_id = await _task_for_update(session, task_id, actor)
    _ensure_version(task, expected_version, patient_id, actor)
    changes = body.model_dump(exclude_unset=True)
    for field in _NOT_NULL & changes.keys():
        if changes[field] is None:
            raise ValidationFailed(f"{field} cannot be empty.", field=field)
    moving = "status" in changes and changes["status"] != task.status
    if moving:
        if by_rules:
            await ensure_may_move(session, task, changes["status"], patient_id=patient_id, actor=actor)
        else:
            ensure_transition(TaskStatus(task.status), changes["status"])
        await _ensure_gates_passed(session, task, changes["status"])
    to = changes["status"] if moving else None
    if to in rules.REASON_REQUIRED and not changes.get("status_reason"):
        raise ValidationFailed("Say why the task is cancelled.", field="body.status_reason")
    if "status_reason" in changes and to not in rules.REASON_REQUIRED:
        raise ValidationFailed(
            "A reason is given only with a move to Closed (cancelled).", field="body.status_reason"
        )
    if changes.get("assignee_id") is not None:
        await _ensure_on_team(session, patient_id, changes["assignee_id"])
    changed = {f: v for f, v in changes.items() if getattr(task, f) != v}
    if not changed:
        return task  # nothing to record: same version, no event
    kind = PlanEvent.task_moved if changed.keys() <= _MOVE_FIELDS else PlanEvent.task_updated
    if moving:  # its author may undo it for a while (``undo_task``)
        changed |= {
            "undo_status": task.status,
            "status_changed_by_id": actor.user_id,
            "status_changed_at": now,
        }
    await _write(session, task, patient_id, changed, kind, actor=actor, now=now)
    return task


async def undo_task(
    session: AsyncSession, task_id: int, *, expected_version: int, actor: Actor, now: datetime, window: float
) -> Task:
    """Put a task its actor just completed or cancelled back where it was: an explicit, audited exception to
    the state machine (``task.undone``), for the same person within ``window`` seconds; then "Reopen"."""
    task, patient_id = await _task_for_update(session, task_id, actor)
    _ensure_version(task, expected_version, patient_id, actor)
    status = TaskStatus(task.status)
    done = rules.column_label(status)
    if status not in rules.UNDOABLE or task.undo_status is None or task.status_changed_at is None:
        raise InvalidTransition(f"There is nothing to undo: this task was not just moved to {done}.")
    if task.status_changed_by_id != actor.user_id:
        raise Forbidden(f"Only whoever moved this task to {done} may undo it; reopen it as a follow-up.")
    if now - task.status_changed_at > timedelta(seconds=window):
        raise InvalidTransition(
            f"Too late to undo: a move to {done} is final after {window:g} seconds. Reopen it as a follow-up."
        )
    await _ensure_gates_passed(session, task, TaskStatus(task.undo_status))
    if status is rules.GATE_PASSED:
        await _ensure_not_relied_on(session, task)
    changed = {
        "status": task.undo_status,
        "status_reason": None,
        "undo_status": None,
        "status_changed_by_id": actor.user_id,
        "status_changed_at": now,
    }
    await _write(session, task, patient_id, changed, PlanEvent.task_undone, actor=actor, now=now)
    return task


async def reopen_task(session: AsyncSession, task_id: int, *, actor: Actor) -> Task:
    """A follow-up of a finished task, linked to it (``reopened_from_id``), in To do: the original stays
    final, as FHIR requires. Anyone on the care team may reopen, as anyone may add a task."""
    original = await _readable_task(session, task_id, actor)
    status = TaskStatus(original.status)
    if status not in rules.REOPENABLE:
        raise InvalidTransition(
            f"Only a task in Done or Closed can be reopened; this one is in {rules.column_label(status)}."
        )
    # The follow-up keeps the original's gates; while one is open it waits in To do as requested, not ready.
    waiting = bool(_open_gates(await _gate_states(session, original.gates)))
    body = TaskCreate(
        title=original.title,
        description=original.description,
        discipline=Discipline(original.discipline),
        assignee_id=None,
        status=TaskStatus.requested if waiting else TaskStatus.ready,
        priority=TaskPriority(original.priority),
        due_date=None,
        checklist=[ChecklistItem(text=str(item["text"])) for item in original.checklist],
        link=original.link,
    )
    return await create_task(
        session,
        original.plan_id,
        body,
        actor=actor,
        reopened_from_id=original.id,
        gate_task_ids=original.gates,
    )


async def set_gates(
    session: AsyncSession,
    task_id: int,
    gate_task_ids: Sequence[int],
    *,
    expected_version: int,
    actor: Actor,
    now: datetime | None = None,
) -> Task:
    """Replace a task's readiness gates (tasks of the same plan, not itself, no cycle); everyone viewing the
    board sees which of them are open. 412 if someone changed the task first."""
    now = now or utcnow()
    task, patient_id = await _task_for_update(session, task_id, actor)
    _ensure_version(task, expected_version, patient_id, actor)
    wanted = sorted(set(gate_task_ids))
    if wanted == task.gates:
        return task  # nothing to record: same version, no event
    if task_id in wanted:
        raise ValidationFailed("A task cannot be its own gate.", field="body.gate_task_ids")
    on_plan = set(
        await session.exec(select(col(Task.id)).where(col(Task.id).in_(wanted), Task.plan_id == task.plan_id))
    )
    strangers = [g for g in wanted if g not in on_plan]
    if strangers:
        raise ValidationFailed(
            f"Gates must be tasks on the same care plan; not: {', '.join(map(str, strangers))}.",
            field="body.gate_task_ids",
        )
    edges = await session.exec(
        select(col(TaskGate.task_id), col(TaskGate.gate_task_id))
        .join(Task, col(Task.id) == col(TaskGate.task_id))
        .where(Task.plan_id == task.plan_id, TaskGate.task_id != task_id)
    )
    cycle = gate_cycle({task_id: wanted}, list(edges))
    if cycle is not None:
        titles = await task_titles(session, cycle)
        names = " \u2192 ".join(f"\u201c{titles.get(t, t)}\u201d" for t in cycle)
        raise ValidationFailed(f"Gates cannot go round in a circle: {names}.", field="body.gate_task_ids")
    connection = await session.connection()
    await connection.execute(sa.delete(_GATES).where(_GATES.c.task_id == task_id))
    if wanted:
        await connection.execute(sa.insert(_GATES), [{"task_id": task_id, "gate_task_id": g} for g in wanted])
    await _write(session, task, patient_id, {"gates": wanted}, PlanEvent.task_updated, actor=actor, now=now)
    return task


def gate_cycle(new: dict[int, list[int]], edges: Iterable[tuple[int, int]]) -> list[int] | None:
    """A circle the gates would make (task ids, first repeated last), or None: ``new`` gates by task added to
    the plan's other ``edges`` (task, gate)."""
    graph: dict[int, list[int]] = {}
    for task_id, gate_id in edges:
        graph.setdefault(task_id, []).append(gate_id)
    for task_id, gates in new.items():
        graph[task_id] = list(gates)
    done: set[int] = set()
    for start in sorted(graph):
        path: list[int] = []
        on_path: set[int] = set()
        stack: list[tuple[int, int]] = [(start, 0)]
        while stack:
            node, index = stack.pop()
            if index == 0:
                if node in on_path:
                    return [*path[path.index(node) :], node]
                if node in done:
                    continue
                path.append(node)
                on_path.add(node)
            children = graph.get(node, [])
            if index < len(children):
                stack.append((node, index + 1))
                stack.append((children[index], 0))
            else:
                path.pop()
                on_path.discard(node)
                done.add(node)
    return None


def ensure_gates_passed(gates: Sequence[tuple[int, str, str]], to: TaskStatus) -> None:
    """Refuse (409) a move to ready, in progress or completed while a gate is not completed, naming them."""
    refused = rules.gate_refusal(to, _open_gates(gates))
    if refused is not None:
        raise InvalidTransition(refused)


def _open_gates(gates: Sequence[tuple[int, str, str]]) -> list[str]:
    return [title for _, title, status in gates if status != rules.GATE_PASSED]


async def _ensure_gates_passed(session: AsyncSession, task: Task, to: TaskStatus) -> None:
    """A move to ready, in progress or completed waits for the task's gates (a query only if it has some)."""
    if to in rules.GATED and task.gates:
        ensure_gates_passed(await _gate_states(session, task.gates), to)


async def _gate_states(session: AsyncSession, gates: Sequence[int]) -> list[tuple[int, str, str]]:
    """Gates (id, title, status), in board order."""
    if not gates:
        return []
    rows = await (await session.connection()).execute(_GATE_STATES, {"ids": list(gates)})
    return [(int(g), str(title), str(status)) for g, title, status in rows]


async def _ensure_not_relied_on(session: AsyncSession, gate: Task) -> None:
    """Undoing a gate's completion is refused once a task it gates is under way (ready or further)."""
    rows = await session.exec(
        select(col(Task.title))
        .join(TaskGate, col(TaskGate.task_id) == col(Task.id))
        .where(TaskGate.gate_task_id == gate.id, col(Task.status).in_(sorted(_UNDER_WAY)))
        .order_by(col(Task.position), col(Task.id))
    )
    relying = list(rows)
    if relying:
        names = ", ".join(f"\u201c{title}\u201d" for title in relying)
        raise InvalidTransition(
            f"This task is a gate of {names}, already under way: its completion stands. "
            "Reopen it as a follow-up instead."
        )


def _ensure_version(task: Task, expected_version: int, patient_id: int, actor: Actor) -> None:
    if task.version != expected_version:
        raise Conflict(
            "Someone changed this task first.",
            current=TaskPublic.model_validate(task),
            actor=actor,
            shown=("task", task.id, patient_id),
        )


async def _write(
    session: AsyncSession,
    task: Task,
    patient_id: int,
    changed: dict[str, Any],
    kind: PlanEvent,
    *,
    actor: Actor,
    now: datetime,
) -> None:
    """Write the task's changed fields with a new version, its event and its audit entry, and tell the
    worklists it is on."""
    task_id = task.id or 0
    assignee_before, discipline_before = task.assignee_id, task.discipline
    for field, value in changed.items():
        setattr(task, field, value)
    task.version += 1
    task.updated_at = now
    # The row's update, the audit entry and the event go together, last: from the event's seq to the
    # commit the plan is locked.
    await board.record(
        session,
        task.plan_id,
        kind,
        TaskPublic.model_validate(task),
        actor=actor,
        change=(
            _update_task(frozenset(changed)),
            {
                **{f"new_{field}": value for field, value in changed.items()},
                "task_id": task_id,
                "new_version": task.version,
                "new_updated_at": task.updated_at,
            },
        ),
        audited=audit.row(actor, AuditAction.update, "task", task_id, patient_id=patient_id),
    )
    if changed.keys() != {"position"}:  # a card moved within its column changes nobody's worklist
        await _tell_worklists(
            session,
            task,
            patient_id=patient_id,
            assignee_before=assignee_before,
            discipline_before=discipline_before,
            reason=NotificationKind.task_assigned if "assignee_id" in changed else kind,
            actor=actor,
        )


async def referral_task_ids(session: AsyncSession, referral_ids: Iterable[int]) -> dict[int, list[int]]:
    """The tasks each referral put on its board, by referral id, in one query."""
    return await _linked_task_ids(session, col(Task.referral_id), referral_ids)


async def message_task_ids(session: AsyncSession, message_ids: Iterable[int]) -> dict[int, list[int]]:
    """The tasks made from each message, by message id, in one query."""
    return await _linked_task_ids(session, col(Task.message_id), message_ids)


async def _linked_task_ids(session: AsyncSession, link: Any, ids: Iterable[int]) -> dict[int, list[int]]:
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    rows = await session.exec(select(link, col(Task.id)).where(link.in_(wanted)).order_by(col(Task.id)))
    linked: dict[int, list[int]] = {}
    for source_id, task_id in rows:
        linked.setdefault(int(source_id or 0), []).append(int(task_id or 0))
    return linked


async def cancel_referral_tasks(session: AsyncSession, referral_id: int, *, actor: Actor) -> list[Task]:
    """Cancel the open tasks a revoked referral put on its board; each is a ``task.updated`` on the board."""
    linked = await session.exec(
        select(Task)
        .where(Task.referral_id == referral_id)
        .order_by(col(Task.id))
        .execution_options(populate_existing=True)
    )
    cancelled = []
    for task in list(linked):
        status = TaskStatus(task.status)
        if COLUMN_OF[status] in (Column.done, Column.closed):
            continue
        cancelled.append(
            await update_task(
                session,
                task.id or 0,
                TaskUpdate(status=TaskStatus.cancelled, status_reason="The referral was revoked."),
                expected_version=task.version,
                actor=actor,
                by_rules=False,
            )
        )
    return cancelled


async def _tell_worklists(
    session: AsyncSession,
    task: Task,
    *,
    patient_id: int,
    assignee_before: int | None,
    discipline_before: str,
    created: bool = False,
    reason: str,
    actor: Actor,
) -> None:
    """After a task was created or changed: its new assignee is notified (unless she assigned it herself),
    and the "My work" pages it is on refresh: its assignee's before and after, and while it is unassigned
    (before or after) those of the care team's members of its discipline, who may pick it up.

    A task assigned before and after that stays with its assignee costs no query, one event each.
    """
    users = {u for u in (assignee_before, task.assignee_id) if u is not None}
    newly_assigned = task.assignee_id is not None and task.assignee_id != assignee_before
    notify = newly_assigned and task.assignee_id != actor.user_id
    pool = task.assignee_id is None or (assignee_before is None and not created)
    if pool:
        users |= await _lane_members(session, patient_id, {discipline_before, task.discipline})
    # Worklists first, in user order (work_changed sorts), then the notification to one of those users,
    # whose stream is locked already: writers take the user streams' locks in one order, so two of them may
    # wait for each other but never deadlock.
    await notifications.work_changed(session, users, actor=actor, plan_id=task.plan_id, reason=reason)
    if notify and task.assignee_id is not None:
        patient_name = (await patients.patient_cards(session, [patient_id]))[patient_id][0]
        await notifications.notify(
            session,
            [task.assignee_id],
            NotificationKind.task_assigned,
            title=f"Assigned to you: {task.title} — {patient_name}",
            link=f"/plans/{task.plan_id}#task-{task.id}",
            patient_id=patient_id,
            plan_id=task.plan_id,
            task_id=task.id,
            actor=actor,
        )


# ``session.info`` key: lane members read with a task in this unit of work, by (patient id, discipline).
_LANE_MEMBERS = "careteam.plans.lane_members"


async def _lane_members(session: AsyncSession, patient_id: int, disciplines: set[str]) -> set[int]:
    """The team members of these lanes: as read with the task (``_task_for_update``) when that covers them,
    else one query (a task moved to another lane, a task just created)."""
    known: dict[tuple[int, str], frozenset[int]] = session.info.get(_LANE_MEMBERS, {})
    if all((patient_id, d) in known for d in disciplines):
        return set().union(*(known[(patient_id, d)] for d in disciplines))
    return set(await patients.member_ids(session, patient_id, disciplines))


async def _task_for_update(session: AsyncSession, task_id: int, actor: Actor) -> tuple[Task, int]:
    """The task, locked (PostgreSQL; SQLite holds the write lock), and its patient's id; one query, which
    also reads the members of the task's lane for ``_tell_worklists`` (kept in ``session.info``).

    Read with Core, not the ORM: the write that follows is a Core UPDATE, and the task returned is a
    detached copy for the answer (no identity map to keep in step, no flush at commit).
    """
    conn = await session.connection()
    statement = _TASK_FOR_UPDATE[actor.is_integration]
    row = (await conn.execute(statement, {"task_id": task_id, "user_id": actor.user_id})).first()
    if row is None:
        raise NotFound("No such task.")
    values = row._asdict()
    patient_id: int = values.pop("patient_id")
    lanes: dict[tuple[int, str], frozenset[int]] = session.info.setdefault(_LANE_MEMBERS, {})
    lanes[(patient_id, values["discipline"])] = patients.parse_ids(values.pop("lane_member_ids"))
    return loaded(Task, values), patient_id


@functools.cache
def _update_task(fields: frozenset[str]) -> sa.Update:
    """UPDATE task SET <fields>, version, updated_at WHERE id: one statement per set of fields, built once."""
    return _UPDATE_TASK.values({f: sa.bindparam(f"new_{f}", type_=_TASKS.c[f].type) for f in sorted(fields)})


async def _readable_task(session: AsyncSession, task_id: int, actor: Actor) -> Task:
    query = select(Task).where(Task.id == task_id, col(Task.plan_id).in_(readable_plan_ids(actor)))
    task = (await session.exec(query)).first()
    if task is None:
        raise NotFound("No such task.")
    return task


async def _ensure_on_team(session: AsyncSession, patient_id: int, user_id: int) -> None:
    if await patients.membership(session, patient_id, user_id) is None:
        raise ValidationFailed("The assignee must be on the patient's care team.", field="assignee_id")


def searchable_tasks() -> sa.Subquery:
    """Every task as a search document (``id``, ``plan_id``, ``task_id``, ``patient_id``, ``document``: its
    title and description), for search to match without touching this feature's tables. Not access-checked:
    filter it by ``readable_plan_ids``. ``document`` is the expression search's PostgreSQL index is on."""
    return (
        sa.select(
            col(Task.id).label("id"),
            col(Task.plan_id).label("plan_id"),
            col(Task.id).label("task_id"),
            col(CarePlan.patient_id).label("patient_id"),
            (col(Task.title) + sa.literal_column("' '") + col(Task.description)).label("document"),
        )
        .join(CarePlan, col(CarePlan.id) == col(Task.plan_id))
        .subquery("searchable_tasks")
    )


async def task_titles(session: AsyncSession, task_ids: Iterable[int]) -> dict[int, str]:
    """Titles by task id, in one query (not audited: for a caller that checked access and audits)."""
    ids = sorted(set(task_ids))
    if not ids:
        return {}
    rows = await session.exec(select(col(Task.id), col(Task.title)).where(col(Task.id).in_(ids)))
    return {int(task_id or 0): title for task_id, title in rows}
