"""Referrals: sent by the team's lead or physician, claimed by one clinician of the pool (or sent to a named
one), accepted (she joins the care team; a task appears in her discipline's lane) or declined with a reason,
completed with an outcome that goes back to the requester, or revoked (its open tasks are cancelled).

Every change is one unit of work: the row, an audit entry, an event on the plan's stream (the board shows
its referrals live), notifications for the people it concerns and a ``work.changed`` on the streams of those
whose "My work" it changes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal

from sqlalchemy import and_, func, or_
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from sqlmodel.sql.expression import SelectOfScalar

from careteam.accounts import service as accounts
from careteam.audit import service as audit
from careteam.audit.codes import AuditAction
from careteam.core.actor import Actor
from careteam.core.errors import Conflict, Forbidden, InvalidTransition, NotFound, ValidationFailed
from careteam.core.vocab import DISCIPLINE_LABELS, Discipline
from careteam.db.types import utcnow
from careteam.notifications import service as notifications
from careteam.notifications.codes import NotificationKind
from careteam.patients import service as patients
from careteam.patients.access import clinical_patient_ids
from careteam.patients.codes import TeamRole
from careteam.plans import board, tasks
from careteam.plans.codes import TaskPriority, TaskStatus
from careteam.plans.schemas import TaskCreate
from careteam.referrals.codes import (
    FINAL_STATUSES,
    OPEN_STATUSES,
    PATCH_TRANSITIONS,
    REASONS,
    Phase,
    ReferralAnswer,
    ReferralEvent,
    ReferralPriority,
    ReferralStatus,
    phase_of,
)
from careteam.referrals.schemas import (
    Complete,
    Decline,
    PersonPublic,
    ReferralCreate,
    ReferralIdentifier,
    ReferralPatient,
    ReferralPublic,
    ReferralUpdate,
    Revoke,
)
from careteam.referrals.tables import Referral

# How long a recipient has to answer, by priority, unless the referral says (``Settings`` overrides these).
RESPOND_WITHIN: dict[ReferralPriority, timedelta] = {
    ReferralPriority.routine: timedelta(days=14),
    ReferralPriority.urgent: timedelta(days=3),
    ReferralPriority.asap: timedelta(days=1),
    ReferralPriority.stat: timedelta(hours=8),
}
_PLANNERS = frozenset({Discipline.ipm_lead, Discipline.physician})
# Statuses in which the pool (or the named clinician) sees a referral: sent and not yet over.
_SENT = (ReferralStatus.active, ReferralStatus.on_hold)


# --- Who may see which referral ------------------------------------------------------------------


def readable_referral_ids(actor: Actor) -> SelectOfScalar[Any]:
    """Referrals the actor may see: all of her care teams' patients', and, off the team, those sent to her
    or to her discipline's pool (the minimal card), and those she claimed. Anything else is "not found"."""
    me = actor.user_id
    visible: list[Any] = [
        col(Referral.patient_id).in_(clinical_patient_ids(actor)),
        col(Referral.claimed_by_id) == me,
    ]
    # A pool is its discipline's clinicians: an administrator (or an EMR interface account) sees referrals
    # only on her own care teams (its shared patients).
    if not (actor.is_admin or actor.is_integration):
        visible.append(
            and_(
                col(Referral.status).in_(_SENT),
                or_(
                    col(Referral.assignee_id) == me,
                    and_(col(Referral.assignee_id).is_(None), col(Referral.discipline) == actor.discipline),
                ),
            )
        )
    return select(col(Referral.id)).where(or_(*visible))


def is_overdue(referral: Referral, now: datetime) -> bool:
    """Past its respond-by with no answer yet, while sent (a draft or one on hold has no running clock)."""
    return referral.status == ReferralStatus.active and referral.answer is None and referral.respond_by < now


def _overdue_clause(now: datetime) -> Any:
    return and_(
        col(Referral.status) == ReferralStatus.active,
        col(Referral.answer).is_(None),
        col(Referral.respond_by) < now,
    )


# --- Reads ---------------------------------------------------------------------------------------


async def get_referral(
    session: AsyncSession, referral_id: int, *, actor: Actor, now: datetime | None = None
) -> ReferralPublic:
    """One referral as the actor may see it (the minimal card off the care team); an audited read."""
    referral = await _readable(session, referral_id, actor)
    audit.record(session, actor, AuditAction.read, "referral", referral.id, patient_id=referral.patient_id)
    return (await _public(session, [referral], actor=actor, now=now))[0]


async def list_referrals(
    session: AsyncSession,
    *,
    actor: Actor,
    now: datetime | None = None,
    status: ReferralStatus | None = None,
    discipline: Discipline | None = None,
    requester_id: int | None = None,
    plan_id: int | None = None,
    patient_id: int | None = None,
    mine: bool = False,
    pool: bool = False,
    overdue: bool = False,
    offset: int = 0,
    limit: int = 50,
) -> tuple[list[ReferralPublic], int]:
    """Referrals the actor may see, soonest respond-by first; each one listed is an audited read.

    ``mine``: sent to her by name or claimed by her; ``pool``: waiting in her discipline's pool, unclaimed;
    ``overdue``: past respond-by without an answer.
    """
    now = now or utcnow()
    query = select(Referral, func.count().over()).where(col(Referral.id).in_(readable_referral_ids(actor)))
    if status is not None:
        query = query.where(col(Referral.status) == status)
    if discipline is not None:
        query = query.where(col(Referral.discipline) == discipline)
    if requester_id is not None:
        query = query.where(col(Referral.requester_id) == requester_id)
    if plan_id is not None:
        query = query.where(col(Referral.plan_id) == plan_id)
    if patient_id is not None:
        query = query.where(col(Referral.patient_id) == patient_id)
    if mine:
        query = query.where(
            or_(col(Referral.assignee_id) == actor.user_id, col(Referral.claimed_by_id) == actor.user_id)
        )
    if pool:
        query = query.where(*_waiting_in_pool(actor.discipline))
    if overdue:
        query = query.where(_overdue_clause(now))
    # The total with the page, in one statement (a window over the rows that match, before the limit);
    # only a page past the end, which has no row to carry it, counts on its own.
    page = (
        await session.exec(
            query.order_by(col(Referral.respond_by), col(Referral.id)).offset(offset).limit(limit)
        )
    ).all()
    rows = [referral for referral, _ in page]
    if page:
        total = page[0][1]
    elif offset:
        total = (await session.exec(select(func.count()).select_from(query.subquery()))).one()
    else:
        total = 0
    audit.record_reads(session, actor, "referral", ((r.id, r.patient_id) for r in rows))
    return await _public(session, rows, actor=actor, now=now), int(total)


def _waiting_in_pool(discipline: str) -> list[Any]:
    return [
        col(Referral.assignee_id).is_(None),
        col(Referral.claimed_by_id).is_(None),
        col(Referral.discipline) == discipline,
        col(Referral.status) == ReferralStatus.active,
        col(Referral.answer).is_(None),
    ]


async def followed_referrals(
    session: AsyncSession,
    *,
    actor: Actor,
    which: Literal["sent", "overdue"],
    now: datetime | None = None,
    patient_id: int | None = None,
    discipline: Discipline | None = None,
    limit: int = 50,
) -> tuple[list[ReferralPublic], int]:
    """What a referrer follows in "My work", soonest respond-by first, with its total: the open referrals
    she ``sent``, or every ``overdue`` referral of her care teams' patients (an IPM lead's). Audited reads."""
    now = now or utcnow()
    if which == "sent":
        where: list[Any] = [
            col(Referral.requester_id) == actor.user_id,
            col(Referral.status).in_(OPEN_STATUSES),
            col(Referral.id).in_(readable_referral_ids(actor)),
        ]
    else:
        where = [_overdue_clause(now), col(Referral.patient_id).in_(clinical_patient_ids(actor))]
    if patient_id is not None:
        where.append(col(Referral.patient_id) == patient_id)
    if discipline is not None:
        where.append(col(Referral.discipline) == discipline)
    query = select(Referral).where(*where)
    total = (await session.exec(select(func.count()).select_from(query.subquery()))).one()
    rows = list(await session.exec(query.order_by(col(Referral.respond_by), col(Referral.id)).limit(limit)))
    audit.record_reads(session, actor, "referral", ((r.id, r.patient_id) for r in rows))
    return await _public(session, rows, actor=actor, now=now), int(total)


async def pending_counts(session: AsyncSession, patient_ids: Iterable[int]) -> dict[int, int]:
    """Open referrals (draft, active or on hold, not yet answered or accepted) per patient, in one query."""
    ids = sorted(set(patient_ids))
    if not ids:
        return {}
    rows = await session.exec(
        select(col(Referral.patient_id), func.count())
        .where(
            col(Referral.patient_id).in_(ids),
            col(Referral.status).in_(OPEN_STATUSES),
            or_(col(Referral.answer).is_(None), col(Referral.answer) == ReferralAnswer.declined),
        )
        .group_by(col(Referral.patient_id))
    )
    return {int(pid): int(n) for pid, n in rows}


# --- Writes --------------------------------------------------------------------------------------


async def create_referral(
    session: AsyncSession,
    body: ReferralCreate,
    *,
    actor: Actor,
    now: datetime | None = None,
    respond_within: Mapping[ReferralPriority, timedelta] = RESPOND_WITHIN,
    requester: Actor | None = None,
    identifier: tuple[str, str] | None = None,
) -> ReferralPublic:
    """Refer a plan's patient to a discipline's pool or a named clinician (the team's lead or physician).

    ``requester``: the clinician the referral is from when another account sends it for her (the EMR's
    interface: the referral rules are hers, the audit rows and events the sender's). ``identifier``: the
    sender's own (system, value) for it, unique."""
    now = now or utcnow()
    requester = requester or actor
    try:
        plan = await board.readable_plan(session, body.plan_id, actor)
    except NotFound:
        raise ValidationFailed("No care plan with this id on your care teams.", field="plan_id") from None
    await _ensure_refers(session, plan.patient_id, requester)
    _check_reason_code(body.discipline, body.reason_code)
    if body.assignee_id is not None:
        await _check_assignee(session, body.assignee_id, body.discipline)
    respond_by = body.respond_by or now + respond_within[body.priority]
    if body.respond_by is not None and body.respond_by <= now:
        raise ValidationFailed("respond_by must be in the future.", field="respond_by")
    referral = Referral(
        plan_id=plan.id or 0,
        patient_id=plan.patient_id,
        requester_id=requester.user_id,
        discipline=body.discipline,
        assignee_id=body.assignee_id,
        # A named clinician holds the referral from the start: nobody else may claim it.
        claimed_by_id=body.assignee_id,
        reason=body.reason,
        reason_code=body.reason_code,
        priority=body.priority,
        respond_by=respond_by.astimezone(UTC),
        status=body.status,
        phase_since=now,
        phase_seconds={},
        identifier_system=identifier[0] if identifier else None,
        identifier_value=identifier[1] if identifier else None,
        created_at=now,
        updated_at=now,
    )
    session.add(referral)
    await session.flush()
    public = await _changed(session, referral, ReferralEvent.created, AuditAction.create, actor, now)
    # User streams in one order in every write (work_changed sorts them, and covers everyone notified
    # below): two writers never wait on each other's user streams.
    await _work_changed(session, referral, actor, ReferralEvent.created)
    if referral.status == ReferralStatus.active:
        await _tell_recipients(session, referral, public, actor)
    return public


async def update_referral(
    session: AsyncSession,
    referral_id: int,
    body: ReferralUpdate,
    *,
    expected_version: int,
    actor: Actor,
    now: datetime | None = None,
) -> ReferralPublic:
    """Change a referral's reason, priority, respond-by, recipient or status (its requester's side); 412 if
    someone changed it first."""
    now = now or utcnow()
    referral = await _for_update(session, referral_id, actor)
    # The EMR's interface changes a referral it sent for a clinician by her rules (create_referral).
    await _ensure_refers(session, referral.patient_id, actor, as_user=referral.requester_id)
    if referral.version != expected_version:
        raise Conflict(
            "Someone changed this referral first.",
            current=(await _public(session, [referral], actor=actor, now=now))[0],
            actor=actor,
            shown=("referral", referral.id, referral.patient_id),
        )
    changes = body.model_dump(exclude_unset=True)
    for field in ("discipline", "reason", "priority", "respond_by", "status"):
        if field in changes and changes[field] is None:
            raise ValidationFailed(f"{field} cannot be empty.", field=field)
    status = ReferralStatus(referral.status)
    if status in FINAL_STATUSES:
        raise InvalidTransition(f"A referral that is {status} cannot be changed.")
    was_sent = status == ReferralStatus.active
    before = _recipients(referral)
    old_pool = _waiting_pool(referral)
    if "status" in changes and changes["status"] != status:
        allowed = PATCH_TRANSITIONS[status]
        if changes["status"] not in allowed:
            options = ", ".join(sorted(allowed)) or "none"
            raise InvalidTransition(
                f"A referral that is {status} cannot become {changes['status']} here; allowed: {options} "
                "(revoke and complete are their own actions)."
            )
    discipline = Discipline(changes.get("discipline") or referral.discipline)
    rerouted = ("discipline" in changes and changes["discipline"] != referral.discipline) or (
        "assignee_id" in changes and changes["assignee_id"] != referral.assignee_id
    )
    if rerouted:
        if referral.answer == ReferralAnswer.accepted:
            raise InvalidTransition("An accepted referral keeps its recipient; revoke it and refer again.")
        assignee_id = changes.get("assignee_id", referral.assignee_id)
        if assignee_id is not None:
            await _check_assignee(session, assignee_id, discipline)
    if "reason_code" in changes or "discipline" in changes:
        _check_reason_code(discipline, changes.get("reason_code", referral.reason_code))
    if changes.get("respond_by") is not None and changes["respond_by"] <= now:
        raise ValidationFailed("respond_by must be in the future.", field="respond_by")
    for field, value in changes.items():
        setattr(referral, field, value.astimezone(UTC) if isinstance(value, datetime) else value)
    if rerouted:
        # A new recipient: the claim and any decline belong to the old one.
        referral.claimed_by_id = referral.assignee_id
        referral.answer = None
        referral.decline_reason = None
    if "respond_by" in changes or rerouted:
        referral.escalated_at = None  # a new clock may escalate again
    public = await _changed(session, referral, ReferralEvent.updated, AuditAction.update, actor, now)
    await _work_changed(session, referral, actor, ReferralEvent.updated, also=before, pools=old_pool)
    if referral.status == ReferralStatus.active and (rerouted or not was_sent):
        await _tell_recipients(session, referral, public, actor)
    return public


async def claim_referral(
    session: AsyncSession, referral_id: int, *, actor: Actor, now: datetime | None = None
) -> ReferralPublic:
    """Take a pool referral: exactly one clinician of the pool wins; the others get 409 naming who has it."""
    now = now or utcnow()
    referral = await _for_update(session, referral_id, actor)
    await _ensure_recipient(referral, actor)
    _ensure_unanswered(referral)
    if referral.claimed_by_id is not None:
        if referral.claimed_by_id == actor.user_id:
            return (await _public(session, [referral], actor=actor, now=now))[0]  # already hers: no change
        raise await _claimed_by_other(session, referral)
    referral.claimed_by_id = actor.user_id
    public = await _changed(session, referral, ReferralEvent.claimed, AuditAction.update, actor, now)
    # The pool's other members lose it from their work.
    await _work_changed(session, referral, actor, ReferralEvent.claimed, pools=[referral.discipline])
    await _notify(
        session,
        referral,
        NotificationKind.referral_claimed,
        [referral.requester_id],
        actor,
        title=f"{actor.display_name} claimed the referral for {public.patient.name}",
    )
    return public


async def accept_referral(
    session: AsyncSession, referral_id: int, *, actor: Actor, now: datetime | None = None
) -> ReferralPublic:
    """Accept (claiming it first if it waits in the pool): she joins the care team, and a task for the
    referral appears in her discipline's lane on the board, assigned to her."""
    now = now or utcnow()
    referral = await _for_update(session, referral_id, actor)
    await _ensure_recipient(referral, actor)
    _ensure_unanswered(referral)
    if referral.claimed_by_id not in (None, actor.user_id):
        raise await _claimed_by_other(session, referral)
    pool = _waiting_pool(referral)
    referral.claimed_by_id = actor.user_id
    referral.answer = ReferralAnswer.accepted
    await patients.admit_to_team(session, referral.patient_id, actor.user_id, actor=actor)
    await tasks.create_task(
        session,
        referral.plan_id,
        TaskCreate(
            title=referral.reason[:200],
            description=f"From referral #{referral.id}.",
            discipline=Discipline(referral.discipline),
            assignee_id=actor.user_id,
            status=TaskStatus.accepted,
            priority=TaskPriority(referral.priority),
        ),
        actor=actor,
        referral_id=referral.id,
    )
    public = await _changed(session, referral, ReferralEvent.accepted, AuditAction.update, actor, now)
    await _work_changed(session, referral, actor, ReferralEvent.accepted, pools=pool)
    await _notify(
        session,
        referral,
        NotificationKind.referral_accepted,
        [referral.requester_id],
        actor,
        title=f"{actor.display_name} accepted the referral for {public.patient.name}",
    )
    return public


async def decline_referral(
    session: AsyncSession, referral_id: int, body: Decline, *, actor: Actor, now: datetime | None = None
) -> ReferralPublic:
    """Decline, with a reason: it goes back to its requester, who may send it elsewhere or revoke it."""
    now = now or utcnow()
    referral = await _for_update(session, referral_id, actor)
    await _ensure_recipient(referral, actor)
    _ensure_unanswered(referral)
    if referral.claimed_by_id not in (None, actor.user_id):
        raise await _claimed_by_other(session, referral)
    pool = _waiting_pool(referral)
    referral.claimed_by_id = actor.user_id
    referral.answer = ReferralAnswer.declined
    referral.decline_reason = body.reason
    public = await _changed(session, referral, ReferralEvent.declined, AuditAction.update, actor, now)
    await _work_changed(session, referral, actor, ReferralEvent.declined, pools=pool)
    await _notify(
        session,
        referral,
        NotificationKind.referral_declined,
        [referral.requester_id],
        actor,
        title=f"{actor.display_name} declined the referral for {public.patient.name}",
        body=body.reason,
    )
    return public


async def complete_referral(
    session: AsyncSession, referral_id: int, body: Complete, *, actor: Actor, now: datetime | None = None
) -> ReferralPublic:
    """Close the loop: the clinician who accepted it sends the outcome back to the requester."""
    now = now or utcnow()
    referral = await _for_update(session, referral_id, actor)
    if referral.claimed_by_id != actor.user_id or referral.answer != ReferralAnswer.accepted:
        raise Forbidden("Only the clinician who accepted this referral completes it.")
    if referral.status != ReferralStatus.active:
        raise InvalidTransition(f"A referral that is {referral.status} cannot be completed.")
    referral.status = ReferralStatus.completed
    referral.outcome = body.outcome
    public = await _changed(session, referral, ReferralEvent.completed, AuditAction.update, actor, now)
    await _work_changed(session, referral, actor, ReferralEvent.completed)
    await _notify(
        session,
        referral,
        NotificationKind.referral_completed,
        [referral.requester_id],
        actor,
        title=f"Referral completed for {public.patient.name}: outcome from {actor.display_name}",
        body=body.outcome,
    )
    return public


async def revoke_referral(
    session: AsyncSession, referral_id: int, body: Revoke, *, actor: Actor, now: datetime | None = None
) -> ReferralPublic:
    """Withdraw a referral, with a reason (the team's lead or physician); its open tasks are cancelled."""
    now = now or utcnow()
    referral = await _for_update(session, referral_id, actor)
    await _ensure_refers(session, referral.patient_id, actor)
    if referral.status in FINAL_STATUSES:
        raise InvalidTransition(f"A referral that is {referral.status} cannot be revoked.")
    recipients = _recipients(referral)
    referral.status = ReferralStatus.revoked
    referral.revoke_reason = body.reason
    await tasks.cancel_referral_tasks(session, referral.id or 0, actor=actor)
    public = await _changed(session, referral, ReferralEvent.revoked, AuditAction.update, actor, now)
    told = [u for u in (referral.claimed_by_id, referral.assignee_id) if u is not None]
    await _work_changed(session, referral, actor, ReferralEvent.revoked, also=recipients)
    await _notify(
        session,
        referral,
        NotificationKind.referral_revoked,
        told,
        actor,
        title=f"Referral for {public.patient.name} revoked by {actor.display_name}",
        body=body.reason,
    )
    return public


async def escalate_overdue(session: AsyncSession, *, now: datetime) -> int:
    """Every referral that has passed its respond-by without an answer, once: its requester and the team's
    lead get one notification each, and its board shows it overdue. How many were escalated.

    Run by a scheduled job; ``escalated_at`` and the notifications' dedup keys make it exactly once per
    referral and recipient even if two processes ran it at once.
    """
    due = list(
        await session.exec(
            select(Referral)
            .where(_overdue_clause(now), col(Referral.escalated_at).is_(None))
            .order_by(col(Referral.id))
            .with_for_update(skip_locked=True)
        )
    )
    for referral in due:
        referral.escalated_at = now
        session.add(referral)
        await session.flush()
        public = (await _public(session, [referral], actor=None, now=now))[0]
        await board.record(
            session,
            referral.plan_id,
            ReferralEvent.overdue,
            public,
            actor=None,
            audited=audit.row(
                None, AuditAction.update, "referral", referral.id, patient_id=referral.patient_id
            ),
        )
        leads = await _team_leads(session, referral.patient_id)
        label = DISCIPLINE_LABELS[Discipline(referral.discipline)]
        await notifications.work_changed(
            session,
            [referral.requester_id, *leads, *_recipients(referral)],
            actor=None,
            plan_id=referral.plan_id,
            reason=ReferralEvent.overdue,
        )
        await notifications.notify(
            session,
            [referral.requester_id, *leads],
            NotificationKind.referral_overdue,
            title=f"Overdue: {label} referral for {public.patient.name} has no answer",
            body=referral.reason,
            link=f"/referrals/{referral.id}",
            patient_id=referral.patient_id,
            plan_id=referral.plan_id,
            referral_id=referral.id,
            actor=None,
            dedup_key=f"referral:{referral.id}:overdue:{referral.respond_by.isoformat()}",
        )
    return len(due)


# --- Helpers -------------------------------------------------------------------------------------


async def _readable(session: AsyncSession, referral_id: int, actor: Actor) -> Referral:
    query = select(Referral).where(
        col(Referral.id) == referral_id, col(Referral.id).in_(readable_referral_ids(actor))
    )
    referral = (await session.exec(query)).first()
    if referral is None:
        raise NotFound("No such referral.")
    return referral


async def _for_update(session: AsyncSession, referral_id: int, actor: Actor) -> Referral:
    """The referral, locked to the commit (PostgreSQL; SQLite holds the write lock): concurrent claims
    queue here, and each sees the one before it."""
    query = (
        select(Referral)
        .where(col(Referral.id) == referral_id, col(Referral.id).in_(readable_referral_ids(actor)))
        .with_for_update(of=Referral)
        .execution_options(populate_existing=True)
    )
    referral = (await session.exec(query)).first()
    if referral is None:
        raise NotFound("No such referral.")
    session.info.setdefault(_LOADED_PHASE, {})[referral.id] = phase_of_row(referral)
    return referral


async def _ensure_refers(
    session: AsyncSession, patient_id: int, actor: Actor, *, as_user: int | None = None
) -> None:
    """Referrals are made and managed by the team's lead and its physicians (an EMR interface account:
    by the rules of ``as_user``, the clinician it acts for)."""
    user_id = as_user if actor.is_integration and as_user is not None else actor.user_id
    member = await patients.membership(session, patient_id, user_id)
    if member is None or not (member[0] == TeamRole.lead or member[1] in _PLANNERS):
        raise Forbidden("Only the care team's lead or its physicians refer this patient.")


async def _ensure_recipient(referral: Referral, actor: Actor) -> None:
    """Only the named clinician, or (no one named) a clinician of the pool's discipline, answers."""
    if referral.assignee_id is not None:
        ok = referral.assignee_id == actor.user_id
    else:
        ok = referral.discipline == actor.discipline
    if not ok:
        raise Forbidden(
            "Only the named clinician answers this referral."
            if referral.assignee_id is not None
            else f"Only {DISCIPLINE_LABELS[Discipline(referral.discipline)].lower()} answers this referral."
        )


def _ensure_unanswered(referral: Referral) -> None:
    if referral.status != ReferralStatus.active:
        raise InvalidTransition(
            f"This referral is {referral.status}: only a sent (active) referral can be claimed or answered."
        )
    if referral.answer is not None:
        raise InvalidTransition(f"This referral was already {referral.answer}.")


async def _claimed_by_other(session: AsyncSession, referral: Referral) -> InvalidTransition:
    names = await accounts.display_names(session, [referral.claimed_by_id or 0])
    who = names.get(referral.claimed_by_id or 0, "another clinician")
    return InvalidTransition(f"Already claimed by {who}.")


def _check_reason_code(discipline: Discipline, code: str | None) -> None:
    if code is None:
        return
    codes = REASONS.get(discipline, {})
    if code not in codes:
        options = ", ".join(codes) or "none"
        raise ValidationFailed(f"Not a reason code of {discipline}; one of: {options}.", field="reason_code")


async def _check_assignee(session: AsyncSession, user_id: int, discipline: Discipline) -> None:
    user = await accounts.active_user(session, user_id)
    if user is None or user.discipline != discipline:
        raise ValidationFailed(
            f"The named clinician must be an active clinician of {discipline}.", field="assignee_id"
        )


def _recipients(referral: Referral) -> list[int]:
    return [u for u in (referral.assignee_id, referral.claimed_by_id) if u is not None]


def _waiting_pool(referral: Referral) -> list[str]:
    """The discipline whose pool the referral waits in (unnamed, unclaimed), or none."""
    unclaimed = referral.assignee_id is None and referral.claimed_by_id is None
    return [referral.discipline] if unclaimed else []


async def _team_leads(session: AsyncSession, patient_id: int) -> list[int]:
    return [m.user_id for m in await patients.team_members(session, patient_id) if m.role == TeamRole.lead]


def phase_of_row(referral: Referral) -> Phase:
    """Where the referral stands now (its clocks run per phase)."""
    return phase_of(
        ReferralStatus(referral.status),
        ReferralAnswer(referral.answer) if referral.answer else None,
        referral.claimed_by_id is not None,
    )


# session.info key: each referral's phase as loaded for update, before this unit of work changed it.
_LOADED_PHASE = "careteam.referrals.loaded_phase"


def _enter_phase(session: AsyncSession, referral: Referral, now: datetime) -> None:
    """Keep the clocks: when the phase changes, the time spent in the old one is added to its total."""
    new = phase_of_row(referral)
    old = session.info.get(_LOADED_PHASE, {}).pop(referral.id, new)
    if new is old:
        return
    spent = max((now - referral.phase_since).total_seconds(), 0.0)
    total = round(referral.phase_seconds.get(old, 0.0) + spent, 3)
    referral.phase_seconds = {**referral.phase_seconds, old.value: total}
    referral.phase_since = now


async def _changed(
    session: AsyncSession,
    referral: Referral,
    kind: ReferralEvent,
    action: AuditAction,
    actor: Actor,
    now: datetime,
) -> ReferralPublic:
    """Bump the version and clocks, write the row, and put the event (with its audit row) on the board."""
    if kind is not ReferralEvent.created:
        _enter_phase(session, referral, now)
        referral.version += 1
        referral.updated_at = now
    session.add(referral)
    await session.flush()
    public = (await _public(session, [referral], actor=None, now=now))[0]
    await board.record(
        session,
        referral.plan_id,
        kind,
        public,
        actor=actor,
        audited=audit.row(actor, action, "referral", referral.id, patient_id=referral.patient_id),
    )
    return public


async def _tell_recipients(
    session: AsyncSession, referral: Referral, public: ReferralPublic, actor: Actor
) -> None:
    """A sent referral reaches the named clinician, or every active clinician of the pool."""
    if referral.assignee_id is not None:
        users = [referral.assignee_id]
    else:
        users = await accounts.active_user_ids(session, discipline=referral.discipline)
    label = DISCIPLINE_LABELS[Discipline(referral.discipline)]
    to = "you" if referral.assignee_id is not None else label
    await _notify(
        session,
        referral,
        NotificationKind.referral_new,
        users,
        actor,
        title=f"Referral to {to}: {public.patient.name}, {public.patient.age}",
        body=referral.reason,
    )


async def _notify(
    session: AsyncSession,
    referral: Referral,
    kind: NotificationKind,
    users: Iterable[int],
    actor: Actor,
    *,
    title: str,
    body: str = "",
) -> None:
    await notifications.notify(
        session,
        users,
        kind,
        title=title,
        body=body,
        link=f"/referrals/{referral.id}",
        patient_id=referral.patient_id,
        plan_id=referral.plan_id,
        referral_id=referral.id,
        actor=actor,
    )


async def _work_changed(
    session: AsyncSession,
    referral: Referral,
    actor: Actor,
    kind: ReferralEvent,
    *,
    also: Iterable[int] = (),
    pools: Iterable[str] = (),
) -> None:
    """Tell everyone whose "My work" this referral is (or was) on: its requester and recipients, ``also``
    (its recipients before this change), and the members of the pool it waits in, or waited in
    (``pools``)."""
    users = {referral.requester_id, *_recipients(referral), *also}
    for discipline in {*pools, *_waiting_pool(referral)}:
        users.update(await accounts.active_user_ids(session, discipline=discipline))
    await notifications.work_changed(
        session, sorted(users), actor=actor, plan_id=referral.plan_id, reason=kind
    )


def _age(born: date, today: date) -> int:
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))


async def _public(
    session: AsyncSession, rows: list[Referral], *, actor: Actor | None, now: datetime | None
) -> list[ReferralPublic]:
    """The referrals as shown to ``actor`` (None: to the care team, as the board's stream carries them), in
    a constant number of queries: patients, names, linked tasks and which patients are hers."""
    if not rows:
        return []
    now = now or utcnow()
    cards = await patients.patient_cards(session, (r.patient_id for r in rows))
    people = await accounts.display_names(
        session,
        (u for r in rows for u in (r.requester_id, r.assignee_id, r.claimed_by_id) if u is not None),
    )
    linked = await tasks.referral_task_ids(session, (r.id or 0 for r in rows))
    mine = (
        {r.patient_id for r in rows}
        if actor is None
        else await patients.clinical_patients_among(session, (r.patient_id for r in rows), actor=actor)
    )

    def person(user_id: int | None) -> PersonPublic | None:
        if user_id is None:
            return None
        return PersonPublic(id=user_id, display_name=people.get(user_id, "A former clinician"))

    items = []
    for r in rows:
        name, born = cards[r.patient_id]
        on_team = r.patient_id in mine
        items.append(
            ReferralPublic(
                id=r.id or 0,
                plan_id=r.plan_id,
                patient=ReferralPatient(id=r.patient_id, name=name, age=_age(born, now.date())),
                discipline=Discipline(r.discipline),
                requester=person(r.requester_id) or PersonPublic(id=0, display_name=""),
                assignee=person(r.assignee_id),
                claimed_by=person(r.claimed_by_id),
                reason=r.reason,
                reason_code=r.reason_code,
                priority=ReferralPriority(r.priority),
                respond_by=r.respond_by,
                status=ReferralStatus(r.status),
                answer=ReferralAnswer(r.answer) if r.answer else None,
                decline_reason=r.decline_reason if on_team or r.claimed_by_id == _uid(actor) else None,
                outcome=r.outcome if on_team else None,
                revoke_reason=r.revoke_reason,
                phase=phase_of_row(r),
                phase_since=r.phase_since,
                phase_seconds=r.phase_seconds,
                overdue=is_overdue(r, now),
                task_ids=linked.get(r.id or 0, []) if on_team else [],
                on_team=on_team,
                identifier=(
                    ReferralIdentifier(system=r.identifier_system, value=r.identifier_value)
                    if r.identifier_system is not None and r.identifier_value is not None
                    else None
                ),
                version=r.version,
                created_at=r.created_at,
                updated_at=r.updated_at,
            )
        )
    return items


def _uid(actor: Actor | None) -> int | None:
    return None if actor is None else actor.user_id


async def check_replayed_create(session: AsyncSession, plan_id: int, *, actor: Actor) -> None:
    """A retried "refer" (same Idempotency-Key) is answered again only while the actor still reads the plan;
    the answer shows the referral, so it is an audited read."""
    await board.audited_plan(session, plan_id, actor=actor)


async def plan_attention(
    session: AsyncSession, plan_ids: list[int], *, now: datetime
) -> dict[int, tuple[int, list[datetime]]]:
    """Per plan: its overdue referrals (sent, unanswered, past respond-by), and when each of its referrals
    still open was declined (a case conference discusses a declined referral). Not audited."""
    if not plan_ids:
        return {}
    overdue = await session.exec(
        select(col(Referral.plan_id), func.count())
        .where(col(Referral.plan_id).in_(plan_ids), _overdue_clause(now))
        .group_by(col(Referral.plan_id))
    )
    found: dict[int, tuple[int, list[datetime]]] = {int(pid): (int(n), []) for pid, n in overdue}
    declined = await session.exec(
        select(col(Referral.plan_id), col(Referral.updated_at)).where(
            col(Referral.plan_id).in_(plan_ids),
            col(Referral.answer) == ReferralAnswer.declined,
            col(Referral.status).in_(OPEN_STATUSES),
        )
    )
    for plan_id, at in declined:
        found.setdefault(int(plan_id), (0, []))[1].append(at)
    return found


async def referral_disciplines(session: AsyncSession, referral_ids: Iterable[int]) -> dict[int, str]:
    """The discipline each referral went to, by id, in one query. Not audited."""
    ids = sorted(set(referral_ids))
    if not ids:
        return {}
    rows = await session.exec(
        select(col(Referral.id), col(Referral.discipline)).where(col(Referral.id).in_(ids))
    )
    return {int(rid or 0): discipline for rid, discipline in rows}


async def find_by_identifier(
    session: AsyncSession, system: str, value: str, *, actor: Actor
) -> ReferralPublic | None:
    """The referral its sender identified so (FHIR conditional create), if the actor may read it; audited."""
    query = select(Referral).where(
        Referral.identifier_system == system,
        Referral.identifier_value == value,
        col(Referral.id).in_(readable_referral_ids(actor)),
    )
    found = (await session.exec(query)).first()
    if found is None:
        return None
    audit.record(session, actor, AuditAction.read, "referral", found.id, patient_id=found.patient_id)
    return (await _public(session, [found], actor=actor, now=None))[0]
