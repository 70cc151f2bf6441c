"""Medications on a plan: list them with the plan's MME/day, add one, change one (If-Match), and the
scheduled job's recurring opioid-safety tasks.

Everyone on the plan's care team reads a plan's medications (one audited read of the plan); its
prescribers and reviewers (``codes.WRITERS``: IPM lead, physician, nurse, pharmacist; and the team's lead)
add and change them. Each write: the row (locked for a change), its event on the plan's stream
(``plans.board.record``) with its audit row; a safety change (a new or changed opioid, an anticoagulant's
hold) first posts an urgent message on the team thread (``messaging.service.post_plan_message``) that the
named disciplines must acknowledge, and the medication keeps its id to show who has not yet.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from careteam.accounts import service as accounts
from careteam.audit import service as audit
from careteam.audit.codes import AuditAction
from careteam.core.actor import Actor, actor_of
from careteam.core.errors import Conflict, Forbidden, NotFound, ValidationFailed
from careteam.core.vocab import Discipline
from careteam.db.types import utcnow
from careteam.medications import safety
from careteam.medications.codes import (
    DOSES_PER_DAY,
    DRUG_SYSTEM,
    DRUGS,
    MME_CAVEAT,
    MME_SOURCE,
    SAFETY_TASKS,
    WRITERS,
    Drug,
    DrugClass,
    Frequency,
    MedicationEvent,
    MedicationStatus,
    Route,
    SafetyTask,
    mme_level,
    period_of,
)
from careteam.medications.schemas import (
    Coding,
    MedicationCreate,
    MedicationPublic,
    MedicationUpdate,
    MmeTotal,
    SafetyAck,
)
from careteam.medications.tables import Medication, SafetyTaskRun
from careteam.patients import service as patients
from careteam.patients.codes import TeamRole
from careteam.plans import board, tasks
from careteam.plans import service as plans
from careteam.plans.access import readable_plan_ids
from careteam.plans.schemas import TaskCreate

_STATUS_ORDER = {MedicationStatus.active: 0, MedicationStatus.on_hold: 1, MedicationStatus.stopped: 2}


# --- MME -------------------------------------------------------------------------------------------


def mme_per_day(drug: Drug, dose: float, frequency: Frequency) -> float | None:
    """A medication's morphine milligram equivalents per day (CDC 2022 factors), rounded to 0.1; None for a
    drug that is not an opioid. Transdermal fentanyl: its rate (mcg/h) times 2.4."""
    factor = DRUGS[drug].mme_factor
    if factor is None:
        return None
    per_day = DOSES_PER_DAY[frequency]
    daily = dose if per_day is None else dose * per_day
    return round(daily * factor, 1)


def total_mme(rows: Iterable[Medication]) -> float:
    """The plan's MME/day: the sum over its active opioids."""
    return round(
        sum(
            mme_per_day(Drug(r.drug), r.dose, Frequency(r.frequency)) or 0.0
            for r in rows
            if r.status == MedicationStatus.active
        ),
        1,
    )


def mme_summary(rows: Iterable[Medication]) -> MmeTotal:
    total = total_mme(rows)
    return MmeTotal(total=total, level=mme_level(total), source=MME_SOURCE, caveat=MME_CAVEAT)


def public(row: Medication, ack: SafetyAck | None = None) -> MedicationPublic:
    drug = Drug(row.drug)
    spec = DRUGS[drug]
    frequency = Frequency(row.frequency)
    return MedicationPublic(
        id=row.id or 0,
        plan_id=row.plan_id,
        patient_id=row.patient_id,
        drug=drug,
        code=Coding(system=DRUG_SYSTEM, code=drug.value, display=spec.display),
        drug_class=spec.drug_class,
        dose=row.dose,
        unit=spec.unit,
        frequency=frequency,
        doses_per_day=DOSES_PER_DAY[frequency],
        route=Route(row.route),
        start_date=row.start_date,
        status=MedicationStatus(row.status),
        status_since=row.status_since,
        hold_days=row.hold_days,
        hold_note=row.hold_note,
        note=row.note,
        mme_per_day=mme_per_day(drug, row.dose, frequency),
        safety=ack,
        author_id=row.author_id,
        updated_by_id=row.updated_by_id,
        version=row.version,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def ordered(rows: Iterable[Medication]) -> list[Medication]:
    """Active first, then on hold, then stopped; newest first within each."""
    return sorted(rows, key=lambda r: (_STATUS_ORDER[MedicationStatus(r.status)], -(r.id or 0)))


# --- Reads ---------------------------------------------------------------------------------------


async def plan_medications(session: AsyncSession, plan_id: int, *, actor: Actor) -> list[Medication]:
    """A plan's medications (ordered), with one audited read of the plan; not found off its care team."""
    await board.audited_plan(session, plan_id, actor=actor)
    return await checked_plan_medications(session, plan_id)


async def checked_plan_medications(session: AsyncSession, plan_id: int) -> list[Medication]:
    """A plan's medications, ordered, for a page whose own read of the plan checked and audited access."""
    return ordered(await session.exec(select(Medication).where(Medication.plan_id == plan_id)))


async def acks_of(session: AsyncSession, rows: Sequence[Medication]) -> dict[int, SafetyAck]:
    """Who has not yet acknowledged each medication's last safety message, by medication id."""
    return await safety.acks_of(session, rows)


async def on_care_team(session: AsyncSession, plan_id: int, *, actor: Actor) -> bool:
    """Whether the actor is on the plan's care team (a plan lent for a conference shows no medications)."""
    query = select(sa.literal(1)).where(sa.literal(plan_id).in_(readable_plan_ids(actor)))
    return (await session.exec(query)).first() is not None


async def may_write(session: AsyncSession, patient_id: int, *, actor: Actor) -> bool:
    """Whether the actor may add and change the patient's medications (a prescriber or reviewer on her
    care team, or its lead)."""
    member = await patients.membership(session, patient_id, actor.user_id)
    return member is not None and writes(member[0], member[1])


def writes(role: str, discipline: str) -> bool:
    """Whether a care team member with this role and discipline adds and changes medications."""
    return role == TeamRole.lead or discipline in WRITERS


async def _ensure_writer(session: AsyncSession, patient_id: int, actor: Actor) -> None:
    if not await may_write(session, patient_id, actor=actor):
        raise Forbidden("Only the plan's physicians, nurses, pharmacists or its lead change its medications.")


# --- Writes --------------------------------------------------------------------------------------


def _check(drug: Drug, frequency: Frequency, route: Route, hold: bool) -> None:
    spec = DRUGS[drug]
    if route not in spec.routes:
        options = ", ".join(r.value for r in spec.routes)
        raise ValidationFailed(f"{spec.display} is given {options}.", field="route")
    patch = drug == Drug.fentanyl_transdermal
    if patch != (frequency == Frequency.continuous):
        detail = (
            "A fentanyl patch is dosed in mcg/h: its frequency is continuous."
            if patch
            else f"{spec.display} is taken in doses: choose how often, not continuous."
        )
        raise ValidationFailed(detail, field="frequency")
    if hold and spec.drug_class != DrugClass.anticoagulant:
        raise ValidationFailed("Only an anticoagulant has a hold before a procedure.", field="hold_days")


async def add_medication(
    session: AsyncSession, plan_id: int, body: MedicationCreate, *, actor: Actor, today: date
) -> Medication:
    """Put a medication on the plan; a new opioid, or an anticoagulant with a hold, asks for acknowledgement
    by urgent message; every open board shows it and the plan's MME/day at once."""
    route = body.route or DRUGS[body.drug].routes[0]
    _check(body.drug, body.frequency, route, body.hold_days is not None or body.hold_note is not None)
    plan = await board.readable_plan(session, plan_id, actor)
    await _ensure_writer(session, plan.patient_id, actor)
    row = Medication(
        plan_id=plan_id,
        patient_id=plan.patient_id,
        drug=body.drug,
        drug_class=DRUGS[body.drug].drug_class,
        dose=body.dose,
        unit=DRUGS[body.drug].unit,
        frequency=body.frequency,
        route=route,
        start_date=body.start_date or today,
        status=body.status,
        status_since=body.start_date or today,
        hold_days=body.hold_days,
        hold_note=body.hold_note,
        note=body.note,
        author_id=actor.user_id,
        updated_by_id=actor.user_id,
    )
    session.add(row)
    await session.flush()
    change = safety.change_of(None, row)
    if change is not None:
        row.safety_message_id = await safety.ask(session, row, change, body.acknowledge_by, actor=actor)
    await _recorded(session, row, MedicationEvent.added, AuditAction.create, actor)
    return row


async def update_medication(
    session: AsyncSession,
    medication_id: int,
    body: MedicationUpdate,
    *,
    expected_version: int,
    actor: Actor,
    today: date,
) -> Medication:
    """Change a medication (412 if someone changed it first); a safety change asks for acknowledgement."""
    row = (
        await session.exec(
            select(Medication)
            .where(Medication.id == medication_id, col(Medication.plan_id).in_(readable_plan_ids(actor)))
            .with_for_update()
        )
    ).first()
    if row is None:
        raise NotFound("No such medication.")
    await _ensure_writer(session, row.patient_id, actor)
    if row.version != expected_version:
        raise Conflict(
            "Someone changed this medication first.",
            current=public(row),
            actor=actor,
            shown=("medication", row.id, row.patient_id),
        )
    before = Medication.model_validate(row.model_dump())
    fields = body.model_fields_set - {"acknowledge_by"}
    for name in ("dose", "frequency", "route", "start_date", "status"):
        if name in fields and getattr(body, name) is None:
            raise ValidationFailed(f"{name.replace('_', ' ').capitalize()} cannot be removed.", field=name)
    for name in sorted(fields):
        setattr(row, name, getattr(body, name))
    hold = row.hold_days is not None or row.hold_note is not None
    _check(
        Drug(row.drug),
        Frequency(row.frequency),
        Route(row.route),
        hold and bool({"hold_days", "hold_note"} & fields),
    )
    if row.status != before.status:
        row.status_since = today
    if row.model_dump(exclude={"version", "updated_at", "updated_by_id"}) == before.model_dump(
        exclude={"version", "updated_at", "updated_by_id"}
    ):
        return row  # nothing changed: no new version, no event
    row.version += 1
    row.updated_by_id = actor.user_id
    row.updated_at = utcnow()
    change = safety.change_of(before, row)
    if change is not None:
        row.safety_message_id = await safety.ask(session, row, change, body.acknowledge_by, actor=actor)
    session.add(row)
    await session.flush()
    await _recorded(session, row, MedicationEvent.changed, AuditAction.update, actor)
    return row


async def _recorded(
    session: AsyncSession, row: Medication, kind: MedicationEvent, action: AuditAction, actor: Actor
) -> None:
    ack = (await safety.acks_of(session, [row])).get(row.id or 0)
    await board.record(session, row.plan_id, kind, public(row, ack), actor=actor)
    audit.record(session, actor, action, "medication", row.id, patient_id=row.patient_id)


# --- The recurring opioid-safety tasks -----------------------------------------------------------


async def make_safety_tasks(session: AsyncSession, *, now: datetime) -> int:
    """For every active plan with an active opioid, each recurring safety task of the current period that
    is not on it yet: put on its board in its lane, due at the period's end, authored by the care team's
    lead. How many were made.

    Exactly once per plan, kind and period: the ``medication_safety_task`` row's unique key is inserted
    first, in a savepoint; if another process inserted it (committed, or waited for), the insert fails,
    only the savepoint rolls back, and the task is left to the one that made it."""
    on_opioids = (
        select(col(Medication.plan_id))
        .where(
            col(Medication.drug_class) == DrugClass.opioid, col(Medication.status) == MedicationStatus.active
        )
        .distinct()
    )
    made = 0
    today = now.date()
    for plan in await plans.active_plans(session, on_opioids):
        done = set(
            await session.exec(
                select(col(SafetyTaskRun.kind), col(SafetyTaskRun.period_start)).where(
                    SafetyTaskRun.plan_id == plan.id
                )
            )
        )
        due = [(k, *period_of(k, today)) for k in SafetyTask if (k.value, period_of(k, today)[0]) not in done]
        if not due:
            continue
        author = await _author(session, plan.patient_id)
        if author is None:
            continue
        for kind, start, end in due:
            run = SafetyTaskRun(plan_id=plan.id, kind=kind, period_start=start, created_at=now)
            try:
                async with session.begin_nested():
                    session.add(run)
            except IntegrityError:
                continue  # another process made this one
            spec = SAFETY_TASKS[kind]
            task = await tasks.create_task(
                session,
                plan.id,
                TaskCreate(
                    title=spec.title,
                    description=f"{spec.why} Recurring safety task, {start:%d %b %Y} to {end:%d %b %Y}.",
                    discipline=spec.discipline,
                    due_date=end,
                ),
                actor=author,
            )
            run.task_id = task.id
            session.add(run)
            await session.flush()
            made += 1
    return made


async def _author(session: AsyncSession, patient_id: int) -> Actor | None:
    """Whom a scheduled task is made by: the care team's lead (else a physician, else anyone on it)."""
    members = await patients.team_members(session, patient_id)
    ranked = sorted(
        members, key=lambda m: (m.role != TeamRole.lead, m.discipline != Discipline.physician, m.user_id)
    )
    for member in ranked:
        user = await accounts.active_user(session, member.user_id)
        if user is not None:
            return actor_of(user)
    return None
