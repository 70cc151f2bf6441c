"""Case conferences: schedule, lend the agenda's plans, run the room, record decisions, sum up.

Who may do what: the conference's participants read it (others: not found); its facilitator (an IPM lead)
writes it; observers write nothing (403), attendees only say they are in the room (presence). Invitees off
a patient's care team, and observers, may see the agenda's plans read-only from 30 minutes before the start
to 30 minutes after the planned end, or until the conference ends (``_Lending``, registered with
``plans.access``): a time-bounded grant, audited when it is given, every board read under it audited as any
read is.

Every write locks the conference row first, then records one event on ``conference:<id>`` carrying the
conference as it now is (``ConferencePublic``, its ``last_seq`` the event's own seq), so the room applies
a whole state and never a diff. Writes on a plan (a decision's task or referral) follow, through those
features' services, in the same unit of work.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime, timedelta
from typing import Any, Final

import sqlalchemy as sa
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from careteam.accounts import service as accounts
from careteam.audit import service as audit
from careteam.audit.codes import AuditAction
from careteam.conferences.codes import (
    CLOSED_STATUSES,
    REVIEW_EVERY,
    ConferenceEvent,
    ConferenceStatus,
    DecisionKind,
    ItemStatus,
    Role,
    Suggestion,
)
from careteam.conferences.schemas import (
    Advance,
    AttendancePublic,
    ChangePublic,
    ChangesPublic,
    ConferenceCreate,
    ConferenceListed,
    ConferencePublic,
    ConferenceUpdate,
    DecisionCreate,
    DecisionPublic,
    ItemCreate,
    ItemPublic,
    ItemUpdate,
    ParticipantPublic,
    PresencePublic,
    PresentPublic,
    SuggestionPublic,
    SuggestionsPublic,
    SummaryDecision,
    SummaryItem,
    SummaryPublic,
)
from careteam.conferences.tables import (
    Conference,
    ConferenceAttendance,
    ConferenceDecision,
    ConferenceItem,
    ConferenceMember,
    ItemAttendance,
)
from careteam.core.actor import Actor
from careteam.core.errors import Conflict, Forbidden, InvalidTransition, NotFound, ValidationFailed
from careteam.core.vocab import Discipline
from careteam.events import log as events
from careteam.events import streams
from careteam.notifications import service as notifications
from careteam.notifications.codes import NotificationKind
from careteam.patients import service as patients
from careteam.patients.access import Ids
from careteam.plans import access as plans_access
from careteam.plans import board, tasks
from careteam.plans import service as plans
from careteam.plans.schemas import TaskCreate
from careteam.referrals import service as referrals
from careteam.referrals.codes import ReferralPriority
from careteam.referrals.schemas import ReferralCreate

# The agenda's plans are lent from this long before the start to this long after the planned end.
LEND_BEFORE: Final = timedelta(minutes=30)
LEND_AFTER: Final = timedelta(minutes=30)
# A plan never discussed: "changed since" shows this much of its history.
FIRST_LOOK: Final = timedelta(days=30)
# Someone is in the room while her heartbeats arrive: she is dropped after this many missed ones.
MISSED_HEARTBEATS: Final = 3
# How often a room says "still here" (CARETEAM_CONFERENCE_HEARTBEAT_SECONDS; the routes pass the setting).
DEFAULT_HEARTBEAT: Final = 10
_ROLE_ORDER: Final = {Role.facilitator: 0, Role.attendee: 1, Role.observer: 2}


def stream(conference_id: int) -> streams.Stream:
    return streams.Stream(streams.CONFERENCE, conference_id)


# --- Access ---------------------------------------------------------------------------------------------


def conference_ids(actor: Actor) -> Ids:
    """The conferences the actor takes part in (facilitator, attendee or observer)."""
    return select(col(ConferenceMember.conference_id)).where(col(ConferenceMember.user_id) == actor.user_id)


def readers(conference_ids: Sequence[int]) -> sa.Select[int, int]:
    """(conference id, user id): who may read these conferences now, their participants (the hub re-checks the
    rooms' viewers with it)."""
    return sa.select(col(ConferenceMember.conference_id), col(ConferenceMember.user_id)).where(
        col(ConferenceMember.conference_id).in_(conference_ids)
    )


class _Lending:
    """The agenda's plans, lent read-only to every participant while the conference's window is open."""

    def _lent(self, now: datetime, *columns: Any) -> Any:
        """The loans open at ``now`` as rows of ``columns`` (default: plan id, user id); no subquery, so a
        board's read or a socket's subscribe builds one small select, not a derived table."""
        return (
            sa.select(*(columns or (col(ConferenceItem.plan_id), col(ConferenceMember.user_id))))
            .select_from(ConferenceItem)
            .join(Conference, col(Conference.id) == col(ConferenceItem.conference_id))
            .join(ConferenceMember, col(ConferenceMember.conference_id) == col(Conference.id))
            .where(
                col(Conference.access_from) <= now,
                col(Conference.access_until) > now,
                col(Conference.status) != ConferenceStatus.cancelled,
            )
        )

    def plan_ids(self, user_id: int, now: datetime) -> Ids:
        lent: Ids = self._lent(now, col(ConferenceItem.plan_id)).where(
            col(ConferenceMember.user_id) == user_id
        )
        return lent

    def viewers(self, plan_ids: Sequence[int], now: datetime) -> sa.Select[int, int]:
        lent: sa.Select[int, int] = self._lent(now).where(col(ConferenceItem.plan_id).in_(plan_ids))
        return lent


plans_access.add_read_grant(_Lending())


async def _role(session: AsyncSession, conference_id: int, actor: Actor) -> Role:
    role = (
        await session.exec(
            select(col(ConferenceMember.role)).where(
                col(ConferenceMember.conference_id) == conference_id,
                col(ConferenceMember.user_id) == actor.user_id,
            )
        )
    ).first()
    if role is None:
        raise NotFound("No such conference.")
    return Role(role)


async def _readable(session: AsyncSession, conference_id: int, actor: Actor) -> tuple[Conference, Role]:
    role = await _role(session, conference_id, actor)
    conference = await session.get(Conference, conference_id)
    if conference is None:
        raise NotFound("No such conference.")
    return conference, role


async def _for_update(
    session: AsyncSession, conference_id: int, actor: Actor, *, open_only: bool = True
) -> Conference:
    """The conference, locked, if the actor facilitates it (observers and attendees: 403)."""
    role = await _role(session, conference_id, actor)
    if role is Role.observer:
        raise Forbidden("Observers watch the conference and change nothing.")
    if role is not Role.facilitator:
        raise Forbidden("Only the facilitator runs the conference and records its decisions.")
    conference = (
        await session.exec(
            select(Conference)
            .where(col(Conference.id) == conference_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    ).one()
    if open_only and conference.status in CLOSED_STATUSES:
        raise InvalidTransition(f"The conference is {conference.status}: nothing more can change.")
    return conference


async def _stale(session: AsyncSession, conference: Conference, detail: str, actor: Actor) -> Conflict:
    """412 with the conference as it is now (its agenda names patients: the edge audits it as shown)."""
    current = await _public(session, conference)
    return Conflict(detail, current=current, actor=actor, shown=("conference", conference.id, None))


# --- Reads ----------------------------------------------------------------------------------------------


async def list_conferences(
    session: AsyncSession,
    *,
    actor: Actor,
    now: datetime,
    past: bool | None = None,
    offset: int = 0,
    limit: int = 50,
) -> tuple[list[ConferenceListed], int]:
    """The actor's conferences: upcoming and running soonest first, or (``past``) ended and cancelled ones
    newest first. No patient is read: a list names no agenda."""
    query = (
        select(Conference, col(ConferenceMember.role))
        .join(ConferenceMember, col(ConferenceMember.conference_id) == col(Conference.id))
        .where(col(ConferenceMember.user_id) == actor.user_id)
    )
    closed = col(Conference.status).in_(list(CLOSED_STATUSES))
    if past is True:
        query = query.where(closed).order_by(col(Conference.starts_at).desc(), col(Conference.id).desc())
    elif past is False:
        query = query.where(~closed).order_by(col(Conference.starts_at), col(Conference.id))
    else:
        query = query.order_by(col(Conference.starts_at).desc(), col(Conference.id).desc())
    total = (await session.exec(select(sa.func.count()).select_from(query.subquery()))).one()
    rows = (await session.exec(query.offset(offset).limit(limit))).all()
    counts = await _item_counts(session, [c.id or 0 for c, _ in rows])
    return [_listed(c, Role(role), counts.get(c.id or 0, 0)) for c, role in rows], int(total)


def _listed(conference: Conference, role: Role, items: int) -> ConferenceListed:
    return ConferenceListed(
        id=conference.id or 0,
        title=conference.title,
        team=conference.team,
        starts_at=conference.starts_at,
        duration_minutes=conference.duration_minutes,
        facilitator_id=conference.facilitator_id,
        status=ConferenceStatus(conference.status),
        role=role,
        items=items,
    )


async def _item_counts(session: AsyncSession, conference_ids: list[int]) -> dict[int, int]:
    if not conference_ids:
        return {}
    rows = await session.exec(
        select(col(ConferenceItem.conference_id), sa.func.count())
        .where(col(ConferenceItem.conference_id).in_(conference_ids))
        .group_by(col(ConferenceItem.conference_id))
    )
    return {int(cid): int(n) for cid, n in rows}


async def get_conference(
    session: AsyncSession, conference_id: int, *, actor: Actor, audited: bool = True
) -> ConferencePublic:
    """The conference with its agenda, if the actor takes part (else not found); one audited read per
    patient on the agenda (``audited=False`` only for a read the caller has audited already: the realtime
    hub's window)."""
    conference, _ = await _readable(session, conference_id, actor)
    public = await _public(session, conference)
    if audited:
        _audit_items(session, actor, public.items)
    return public


async def conference_exists(session: AsyncSession, conference_id: int) -> bool:
    """Whether the conference exists, whoever takes part: for the audit of a refused read only."""
    return await session.get(Conference, conference_id) is not None


async def conference_role(session: AsyncSession, conference_id: int, *, actor: Actor) -> Role:
    """How the actor takes part (not found if she does not)."""
    return await _role(session, conference_id, actor)


def _audit_items(session: AsyncSession, actor: Actor, items: Iterable[ItemPublic]) -> None:
    audit.record_reads(session, actor, "conference_item", ((i.id, i.patient_id) for i in items))


async def _public(
    session: AsyncSession, conference: Conference, *, next_seq: bool = False
) -> ConferencePublic:
    """The conference as everyone sees it; ``next_seq``: as the event about to be recorded will carry it."""
    cid = conference.id or 0
    members = (
        await session.exec(select(ConferenceMember).where(col(ConferenceMember.conference_id) == cid))
    ).all()
    items = (
        await session.exec(
            select(ConferenceItem)
            .where(col(ConferenceItem.conference_id) == cid)
            .order_by(col(ConferenceItem.position), col(ConferenceItem.id))
            .execution_options(populate_existing=True)
        )
    ).all()
    decisions = (
        await session.exec(
            select(ConferenceDecision)
            .where(col(ConferenceDecision.conference_id) == cid)
            .order_by(col(ConferenceDecision.id))
        )
    ).all()
    people = await _people(session, [m.user_id for m in members])
    plan_labels = await plans.plan_labels(session, [i.plan_id for i in items])
    cards = await patients.patient_cards(session, [i.patient_id for i in items])
    by_item: dict[int, list[DecisionPublic]] = {}
    for decision in decisions:
        by_item.setdefault(decision.item_id, []).append(DecisionPublic.model_validate(decision))
    seq = await events.last_seq(session, stream(cid))
    participants = sorted(
        (
            ParticipantPublic(
                user_id=m.user_id,
                name=people.get(m.user_id, ("A former colleague", ""))[0],
                discipline=people.get(m.user_id, ("", ""))[1],
                role=Role(m.role),
            )
            for m in members
        ),
        key=lambda p: (_ROLE_ORDER[p.role], p.name, p.user_id),
    )
    return ConferencePublic(
        id=cid,
        title=conference.title,
        team=conference.team,
        starts_at=conference.starts_at,
        duration_minutes=conference.duration_minutes,
        facilitator_id=conference.facilitator_id,
        status=ConferenceStatus(conference.status),
        current_item_id=conference.current_item_id,
        started_at=conference.started_at,
        ended_at=conference.ended_at,
        access_from=conference.access_from,
        access_until=conference.access_until,
        version=conference.version,
        last_seq=seq + 1 if next_seq else seq,
        participants=participants,
        items=[
            ItemPublic(
                id=i.id or 0,
                plan_id=i.plan_id,
                patient_id=i.patient_id,
                patient_name=cards.get(i.patient_id, ("", date.min))[0],
                plan_title=plan_labels.get(i.plan_id, ("", 0))[0],
                position=i.position,
                reason=i.reason,
                presenter_id=i.presenter_id,
                status=ItemStatus(i.status),
                minutes=i.minutes,
                carried_from_id=i.carried_from_id,
                version=i.version,
                decisions=by_item.get(i.id or 0, []),
            )
            for i in items
        ],
    )


async def _people(session: AsyncSession, user_ids: Iterable[int]) -> dict[int, tuple[str, str]]:
    return await accounts.identities(session, user_ids)


# --- Scheduling -----------------------------------------------------------------------------------------


async def create_conference(
    session: AsyncSession, body: ConferenceCreate, *, actor: Actor, now: datetime
) -> ConferencePublic:
    """Schedule a conference (an IPM lead). Its agenda's plans must be on the actor's care teams; items of
    the team's earlier conferences that were not reached join the agenda (rolled over)."""
    if actor.discipline is not Discipline.ipm_lead:
        raise Forbidden("Only an IPM lead schedules case conferences.")
    facilitator_id = body.facilitator_id or actor.user_id
    if facilitator_id != actor.user_id:
        await _check_people(session, [facilitator_id], field="facilitator_id", lead=True)
    roles = await _roles(session, facilitator_id, body.attendee_ids, body.observer_ids)
    if actor.user_id not in roles:
        roles[actor.user_id] = Role.attendee  # who schedules it takes part
    window = _window(body.starts_at, body.duration_minutes)
    conference = Conference(
        title=body.title,
        team=body.team,
        starts_at=body.starts_at,
        duration_minutes=body.duration_minutes,
        facilitator_id=facilitator_id,
        created_by_id=actor.user_id,
        created_at=now,
        updated_at=now,
        access_from=window[0],
        access_until=window[1],
    )
    session.add(conference)
    await session.flush()
    cid = conference.id or 0
    for user_id, role in roles.items():
        session.add(ConferenceMember(conference_id=cid, user_id=user_id, role=role))
    await _set_agenda(session, conference, body.items, roles, actor=actor, existing=[])
    await _roll_over_into(session, conference, actor=actor)
    audit.record(session, actor, AuditAction.create, "conference", cid)
    public = await _changed(session, conference, ConferenceEvent.updated, actor)
    await notifications.notify(
        session,
        [uid for uid in roles if uid != actor.user_id],
        NotificationKind.conference_invited,
        title=f"Case conference: {conference.title}",
        body=f"{_when(conference.starts_at)} · {len(public.items)} on the agenda",
        link=f"/conferences/{cid}",
        actor=actor,
    )
    return public


def _when(at: datetime) -> str:
    return at.strftime("%a %d %b %Y, %H:%M UTC")


def _window(starts_at: datetime, duration_minutes: int) -> tuple[datetime, datetime]:
    """When the agenda's plans are lent: from before the start to after the planned end."""
    return starts_at - LEND_BEFORE, starts_at + timedelta(minutes=duration_minutes) + LEND_AFTER


async def _roles(
    session: AsyncSession, facilitator_id: int, attendee_ids: list[int], observer_ids: list[int]
) -> dict[int, Role]:
    both = (set(attendee_ids) | {facilitator_id}) & set(observer_ids)
    if both:
        raise ValidationFailed("An observer cannot also attend or facilitate.", field="observer_ids")
    await _check_people(session, attendee_ids, field="attendee_ids")
    await _check_people(session, observer_ids, field="observer_ids")
    roles = {uid: Role.attendee for uid in attendee_ids}
    roles |= {uid: Role.observer for uid in observer_ids}
    roles[facilitator_id] = Role.facilitator
    return roles


async def _check_people(
    session: AsyncSession, user_ids: Iterable[int], *, field: str, lead: bool = False
) -> None:
    wanted = set(user_ids)
    found = await accounts.identities(session, wanted, active=True)
    missing = sorted(wanted - found.keys())
    if missing:
        raise ValidationFailed(f"No active clinician with id {missing[0]}.", field=field)
    if lead and any(discipline != Discipline.ipm_lead for _, discipline in found.values()):
        raise ValidationFailed("The facilitator must be an IPM lead.", field=field)


async def _set_agenda(
    session: AsyncSession,
    conference: Conference,
    wanted: list[ItemCreate],
    roles: Mapping[int, Role],
    *,
    actor: Actor,
    existing: list[ConferenceItem],
) -> None:
    """Make the agenda ``wanted`` (in its order): items kept by plan keep their id, status and decisions;
    new plans must be on the actor's care teams; an item with decisions cannot be dropped (409)."""
    cid = conference.id or 0
    kept = {item.plan_id: item for item in existing}
    seen: set[int] = set()
    for index, entry in enumerate(wanted):
        field = f"items[{index}]"
        if entry.plan_id in seen:
            raise ValidationFailed("This plan is on the agenda twice.", field=f"{field}.plan_id")
        seen.add(entry.plan_id)
        if entry.presenter_id is not None and roles.get(entry.presenter_id) not in (
            Role.facilitator,
            Role.attendee,
        ):
            raise ValidationFailed(
                "The presenter must be the facilitator or an attendee.", field=f"{field}.presenter_id"
            )
        item = kept.get(entry.plan_id)
        if item is None:
            try:
                plan = await board.readable_plan(session, entry.plan_id, actor)
            except NotFound:
                raise ValidationFailed(
                    "No care plan with this id on your care teams.", field=f"{field}.plan_id"
                ) from None
            item = ConferenceItem(
                conference_id=cid, plan_id=entry.plan_id, patient_id=plan.patient_id, position=0, reason=""
            )
            session.add(item)
        item.position = index + 1
        item.reason = entry.reason
        item.presenter_id = entry.presenter_id
    dropped = [item for plan_id, item in kept.items() if plan_id not in seen]
    if dropped:
        with_decisions = set(
            await session.exec(
                select(col(ConferenceDecision.item_id)).where(
                    col(ConferenceDecision.item_id).in_([i.id for i in dropped])
                )
            )
        )
        for item in dropped:
            if item.id in with_decisions or item.id == conference.current_item_id:
                raise InvalidTransition(
                    "An item on screen or with decisions stays on the agenda; mark it deferred instead."
                )
            await session.delete(item)
    await session.flush()
    await _audit_lending(session, conference, roles, actor=actor)


async def _audit_lending(
    session: AsyncSession, conference: Conference, roles: Mapping[int, Role], *, actor: Actor
) -> None:
    """One audit entry per plan lent to a participant off its care team: the grant, as it is given."""
    items = (
        await session.exec(
            select(ConferenceItem).where(col(ConferenceItem.conference_id) == (conference.id or 0))
        )
    ).all()
    teams = await patients.team_member_ids(session, [i.patient_id for i in items])
    for item in items:
        for user_id in sorted(roles):
            if user_id not in teams.get(item.patient_id, set()):
                audit.record(
                    session,
                    actor,
                    AuditAction.create,
                    "plan_grant",
                    f"{item.plan_id}:{user_id}:conference:{conference.id}",
                    patient_id=item.patient_id,
                )


async def _roll_over_into(session: AsyncSession, conference: Conference, *, actor: Actor | None) -> None:
    """Items of the team's ended conferences that were not reached join this agenda, after its own items;
    their plan must still be readable by the facilitator (else they wait for a conference she can run)."""
    cid = conference.id or 0
    waiting = (
        await session.exec(
            select(ConferenceItem)
            .join(Conference, col(Conference.id) == col(ConferenceItem.conference_id))
            .where(
                col(Conference.team) == conference.team,
                col(Conference.status) == ConferenceStatus.ended,
                col(Conference.id) != cid,
                col(ConferenceItem.status) == ItemStatus.not_reached,
                ~col(ConferenceItem.rolled_over),
            )
            .order_by(col(Conference.starts_at), col(ConferenceItem.position))
            .with_for_update()
        )
    ).all()
    if not waiting:
        return
    present = (
        await session.exec(
            select(ConferenceItem)
            .where(col(ConferenceItem.conference_id) == cid)
            .order_by(col(ConferenceItem.position))
        )
    ).all()
    on_agenda = {i.plan_id for i in present}
    position = max((i.position for i in present), default=0)
    readable = set(
        await session.exec(
            select(col(ConferenceItem.plan_id)).where(
                col(ConferenceItem.plan_id).in_([i.plan_id for i in waiting]),
                col(ConferenceItem.plan_id).in_(plans_access.readable_plan_ids_of(conference.facilitator_id)),
            )
        )
    )
    for source in waiting:
        if source.plan_id not in readable:
            continue
        source.rolled_over = True
        session.add(source)
        if source.plan_id in on_agenda:
            continue
        on_agenda.add(source.plan_id)
        position += 1
        session.add(
            ConferenceItem(
                conference_id=cid,
                plan_id=source.plan_id,
                patient_id=source.patient_id,
                position=position,
                reason=source.reason,
                presenter_id=None,
                carried_from_id=source.id,
            )
        )
    await session.flush()


async def update_conference(
    session: AsyncSession,
    conference_id: int,
    body: ConferenceUpdate,
    *,
    expected_version: int,
    actor: Actor,
    now: datetime,
    heartbeat_seconds: int = DEFAULT_HEARTBEAT,
) -> ConferencePublic:
    """Change what is planned, start, end or cancel (the facilitator; If-Match)."""
    conference = await _for_update(session, conference_id, actor)
    if conference.version != expected_version:
        raise await _stale(session, conference, "Someone changed this conference first.", actor)
    fields = body.model_fields_set
    if "title" in fields and body.title is not None:
        conference.title = body.title
    if "team" in fields and body.team is not None:
        conference.team = body.team
    if {"starts_at", "duration_minutes"} & fields:
        conference.starts_at = body.starts_at or conference.starts_at
        conference.duration_minutes = body.duration_minutes or conference.duration_minutes
        window = _window(conference.starts_at, conference.duration_minutes)
        conference.access_from, conference.access_until = window
    members = (
        await session.exec(
            select(ConferenceMember).where(col(ConferenceMember.conference_id) == conference_id)
        )
    ).all()
    roles = {m.user_id: Role(m.role) for m in members}
    if {"attendee_ids", "observer_ids"} & fields:
        attendees = body.attendee_ids if body.attendee_ids is not None else _having(roles, Role.attendee)
        observers = body.observer_ids if body.observer_ids is not None else _having(roles, Role.observer)
        new_roles = await _roles(session, conference.facilitator_id, attendees, observers)
        for member in members:
            if member.user_id not in new_roles:
                await session.delete(member)
            elif member.role != new_roles[member.user_id]:
                member.role = new_roles[member.user_id]
                session.add(member)
        for user_id, role in new_roles.items():
            if user_id not in roles:
                session.add(ConferenceMember(conference_id=conference_id, user_id=user_id, role=role))
        invited = [uid for uid in new_roles if uid not in roles]
        roles = new_roles
    else:
        invited = []
    if "items" in fields and body.items is not None:
        existing = list(
            (
                await session.exec(
                    select(ConferenceItem).where(col(ConferenceItem.conference_id) == conference_id)
                )
            ).all()
        )
        await _set_agenda(session, conference, body.items, roles, actor=actor, existing=existing)
    elif invited:
        await _audit_lending(session, conference, roles, actor=actor)
    if body.status is not None and body.status != conference.status:
        await _change_status(
            session,
            conference,
            ConferenceStatus(body.status),
            actor=actor,
            now=now,
            window=presence_window(heartbeat_seconds),
        )
    conference.version += 1
    conference.updated_at = now
    session.add(conference)
    await session.flush()
    audit.record(session, actor, AuditAction.update, "conference", conference_id)
    public = await _changed(session, conference, ConferenceEvent.updated, actor)
    if invited:
        await notifications.notify(
            session,
            invited,
            NotificationKind.conference_invited,
            title=f"Case conference: {conference.title}",
            body=f"{_when(conference.starts_at)} · {len(public.items)} on the agenda",
            link=f"/conferences/{conference_id}",
            actor=actor,
        )
    return public


def _having(roles: Mapping[int, Role], role: Role) -> list[int]:
    return sorted(uid for uid, r in roles.items() if r is role)


async def _change_status(
    session: AsyncSession,
    conference: Conference,
    status: ConferenceStatus,
    *,
    actor: Actor,
    now: datetime,
    window: timedelta,
) -> None:
    if status is ConferenceStatus.scheduled:
        raise InvalidTransition("A conference that has started cannot be scheduled again.")
    if status is ConferenceStatus.in_progress:
        await _start(session, conference, now, window)
    elif status is ConferenceStatus.cancelled:
        if conference.status != ConferenceStatus.scheduled:
            raise InvalidTransition("A conference that has started is ended, not cancelled.")
        conference.status = ConferenceStatus.cancelled
        conference.access_until = min(conference.access_until, now)
    elif status is ConferenceStatus.ended:
        await _end(session, conference, actor=actor, now=now)


async def _start(session: AsyncSession, conference: Conference, now: datetime, window: timedelta) -> None:
    conference.status = ConferenceStatus.in_progress
    conference.started_at = conference.started_at or now
    if conference.current_item_id is None:
        first = (
            await session.exec(
                select(col(ConferenceItem.id))
                .where(
                    col(ConferenceItem.conference_id) == conference.id,
                    col(ConferenceItem.status) == ItemStatus.pending,
                )
                .order_by(col(ConferenceItem.position))
            )
        ).first()
        conference.current_item_id = first
        if first is not None:
            await _record_item_attendance(session, conference, first, now, window)
    # The lending runs at least until the room closes.
    conference.access_from = min(conference.access_from, now)


async def _end(session: AsyncSession, conference: Conference, *, actor: Actor, now: datetime) -> None:
    """Close the meeting: the item on screen counts as discussed, the rest not reached (rolled over to the
    team's next scheduled conference, or to the next one scheduled); plans discussed are reviewed now."""
    items = (
        await session.exec(
            select(ConferenceItem)
            .where(col(ConferenceItem.conference_id) == conference.id)
            .execution_options(populate_existing=True)
        )
    ).all()
    discussed = []
    for item in items:
        if item.status == ItemStatus.pending:
            item.status = (
                ItemStatus.discussed if item.id == conference.current_item_id else ItemStatus.not_reached
            )
            item.version += 1
            session.add(item)
        if item.status == ItemStatus.discussed:
            discussed.append(item.plan_id)
    conference.status = ConferenceStatus.ended
    conference.started_at = conference.started_at or now
    conference.ended_at = now
    conference.current_item_id = None
    conference.access_until = min(conference.access_until, now)
    await session.flush()
    await plans.mark_reviewed(session, discussed, at=now)
    following = (
        await session.exec(
            select(Conference)
            .where(
                col(Conference.team) == conference.team,
                col(Conference.status) == ConferenceStatus.scheduled,
                col(Conference.id) != conference.id,
            )
            .order_by(col(Conference.starts_at), col(Conference.id))
            .with_for_update()
        )
    ).first()
    if following is not None:
        await _roll_over_into(session, following, actor=actor)
        following.version += 1
        following.updated_at = now
        session.add(following)
        await session.flush()
        await _changed(session, following, ConferenceEvent.updated, actor)


# --- The room -------------------------------------------------------------------------------------------


async def advance(
    session: AsyncSession,
    conference_id: int,
    body: Advance,
    *,
    actor: Actor,
    now: datetime,
    heartbeat_seconds: int = DEFAULT_HEARTBEAT,
) -> ConferencePublic:
    """Put an item on every screen: ``item_id``, or the next pending one after the current (then the first
    pending one). The item left, if still pending, counts as discussed. Starts a scheduled conference."""
    conference = await _for_update(session, conference_id, actor)
    items = list(
        (
            await session.exec(
                select(ConferenceItem)
                .where(col(ConferenceItem.conference_id) == conference_id)
                .order_by(col(ConferenceItem.position), col(ConferenceItem.id))
                .execution_options(populate_existing=True)
            )
        ).all()
    )
    by_id = {item.id: item for item in items}
    if body.item_id is not None:
        if body.item_id not in by_id:
            raise ValidationFailed("No such item on this conference's agenda.", field="item_id")
        target = by_id[body.item_id]
    else:
        following = _next_pending(items, conference.current_item_id)
        if following is None:
            raise InvalidTransition("Every item has been taken: end the conference.")
        target = following
    if conference.status == ConferenceStatus.scheduled:
        conference.status = ConferenceStatus.in_progress
        conference.started_at = now
        conference.access_from = min(conference.access_from, now)
    leaving = by_id.get(conference.current_item_id)
    if leaving is not None and leaving is not target and leaving.status == ItemStatus.pending:
        leaving.status = ItemStatus.discussed
        leaving.version += 1
        session.add(leaving)
    conference.current_item_id = target.id
    conference.version += 1
    conference.updated_at = now
    session.add(conference)
    await session.flush()
    await _record_item_attendance(
        session, conference, target.id or 0, now, presence_window(heartbeat_seconds)
    )
    audit.record(session, actor, AuditAction.update, "conference", conference_id)
    return await _changed(session, conference, ConferenceEvent.advanced, actor)


def _next_pending(items: list[ConferenceItem], current_id: int | None) -> ConferenceItem | None:
    pending = [i for i in items if i.status == ItemStatus.pending and i.id != current_id]
    current = next((i for i in items if i.id == current_id), None)
    if current is not None:
        after = [i for i in pending if (i.position, i.id or 0) > (current.position, current.id or 0)]
        if after:
            return after[0]
    return pending[0] if pending else None


async def update_item(
    session: AsyncSession,
    conference_id: int,
    item_id: int,
    body: ItemUpdate,
    *,
    expected_version: int,
    actor: Actor,
    now: datetime,
) -> ConferencePublic:
    """The facilitator's record of an item: outcome (discussed, deferred, not reached), minutes, reason,
    presenter (If-Match: the item's version). Once the conference has ended only the minutes may still be
    completed (its outcomes have been acted on: reviews set, items rolled over)."""
    conference = await _for_update(session, conference_id, actor, open_only=False)
    fields = body.model_fields_set
    if conference.status in CLOSED_STATUSES and fields - {"minutes"}:
        raise InvalidTransition(f"The conference is {conference.status}: only the minutes can still change.")
    item = await _item(session, conference_id, item_id)
    if item.version != expected_version:
        raise await _stale(session, conference, "Someone changed this item first.", actor)
    if "status" in fields and body.status is not None:
        item.status = body.status
    if "minutes" in fields and body.minutes is not None:
        item.minutes = body.minutes
    if "reason" in fields and body.reason is not None:
        item.reason = body.reason
    if "presenter_id" in fields:
        if body.presenter_id is not None:
            role = (
                await session.exec(
                    select(col(ConferenceMember.role)).where(
                        col(ConferenceMember.conference_id) == conference_id,
                        col(ConferenceMember.user_id) == body.presenter_id,
                    )
                )
            ).first()
            if role not in (Role.facilitator, Role.attendee):
                raise ValidationFailed(
                    "The presenter must be the facilitator or an attendee.", field="presenter_id"
                )
        item.presenter_id = body.presenter_id
    item.version += 1
    session.add(item)
    conference.updated_at = now
    session.add(conference)
    await session.flush()
    audit.record(session, actor, AuditAction.update, "conference_item", item_id, patient_id=item.patient_id)
    return await _changed(session, conference, ConferenceEvent.item, actor)


async def _item(session: AsyncSession, conference_id: int, item_id: int) -> ConferenceItem:
    item = (
        await session.exec(
            select(ConferenceItem)
            .where(col(ConferenceItem.id) == item_id, col(ConferenceItem.conference_id) == conference_id)
            .execution_options(populate_existing=True)
        )
    ).first()
    if item is None:
        raise NotFound("No such item on this conference's agenda.")
    return item


async def add_decision(
    session: AsyncSession,
    conference_id: int,
    item_id: int,
    body: DecisionCreate,
    *,
    actor: Actor,
    now: datetime,
    respond_within: Mapping[ReferralPriority, timedelta] | None = None,
) -> DecisionPublic:
    """Record a decision on an item; with a task or a referral it makes one on the item's plan, as the
    facilitator (her rights on that plan apply: she must be on its care team), in the same unit of work."""
    conference = await _for_update(session, conference_id, actor)
    item = await _item(session, conference_id, item_id)
    task_id = referral_id = None
    if body.task is not None:
        task = await tasks.create_task(
            session,
            item.plan_id,
            TaskCreate(
                title=body.task.title or body.text[:200],
                description=f"Decided at the case conference “{conference.title}”: {body.text}",
                discipline=body.task.discipline,
                assignee_id=body.task.assignee_id,
                priority=body.task.priority,
                due_date=body.task.due_date,
            ),
            actor=actor,
        )
        task_id = task.id
    elif body.referral is not None:
        referral = await referrals.create_referral(
            session,
            ReferralCreate(
                plan_id=item.plan_id,
                discipline=body.referral.discipline,
                assignee_id=body.referral.assignee_id,
                reason=body.referral.reason or body.text[:300],
                priority=body.referral.priority,
            ),
            actor=actor,
            now=now,
            respond_within=respond_within if respond_within is not None else referrals.RESPOND_WITHIN,
        )
        referral_id = referral.id
    decision = ConferenceDecision(
        conference_id=conference_id,
        item_id=item_id,
        text=body.text,
        kind=body.kind,
        task_id=task_id,
        referral_id=referral_id,
        author_id=actor.user_id,
        created_at=now,
    )
    session.add(decision)
    conference.updated_at = now
    session.add(conference)
    await session.flush()
    audit.record(
        session, actor, AuditAction.create, "conference_decision", decision.id, patient_id=item.patient_id
    )
    await _changed(session, conference, ConferenceEvent.decision, actor)
    return DecisionPublic.model_validate(decision)


async def _changed(
    session: AsyncSession, conference: Conference, kind: ConferenceEvent, actor: Actor | None
) -> ConferencePublic:
    """Record the conference as it now is on its stream (the event's seq is its ``last_seq``)."""
    public = await _public(session, conference, next_seq=True)
    await events.record(session, stream(conference.id or 0), kind, public, actor=actor)
    return public


async def _record_item_attendance(
    session: AsyncSession, conference: Conference, item_id: int, now: datetime, window: timedelta
) -> None:
    """Everyone in the room now was there for this item (kept once per person and item)."""
    present = await _present_rows(session, conference.id or 0, now, window=window)
    await _attend_item(session, conference.id or 0, item_id, [a.user_id for a in present], now)


async def _attend_item(
    session: AsyncSession, conference_id: int, item_id: int, user_ids: list[int], now: datetime
) -> None:
    if not user_ids:
        return
    already = set(
        await session.exec(
            select(col(ItemAttendance.user_id)).where(
                col(ItemAttendance.item_id) == item_id, col(ItemAttendance.user_id).in_(user_ids)
            )
        )
    )
    for user_id in sorted(set(user_ids) - already):
        session.add(
            ItemAttendance(item_id=item_id, user_id=user_id, conference_id=conference_id, seen_at=now)
        )
    await session.flush()


# --- Presence and attendance ----------------------------------------------------------------------------


def presence_window(heartbeat_seconds: int) -> timedelta:
    return timedelta(seconds=heartbeat_seconds * MISSED_HEARTBEATS)


async def _present_rows(
    session: AsyncSession, conference_id: int, now: datetime, *, window: timedelta
) -> list[ConferenceAttendance]:
    since = now - window
    return list(
        (
            await session.exec(
                select(ConferenceAttendance)
                .where(
                    col(ConferenceAttendance.conference_id) == conference_id,
                    col(ConferenceAttendance.left_at).is_(None),
                    col(ConferenceAttendance.last_seen_at) >= since,
                )
                .order_by(col(ConferenceAttendance.joined_at), col(ConferenceAttendance.user_id))
                .execution_options(populate_existing=True)
            )
        ).all()
    )


async def presence(
    session: AsyncSession, conference_id: int, *, actor: Actor, now: datetime, heartbeat_seconds: int
) -> PresencePublic:
    """Who has the room open now."""
    await _role(session, conference_id, actor)
    return await _presence(session, conference_id, now, heartbeat_seconds)


async def _presence(
    session: AsyncSession, conference_id: int, now: datetime, heartbeat_seconds: int
) -> PresencePublic:
    rows = await _present_rows(session, conference_id, now, window=presence_window(heartbeat_seconds))
    roles = dict(
        (
            await session.exec(
                select(col(ConferenceMember.user_id), col(ConferenceMember.role)).where(
                    col(ConferenceMember.conference_id) == conference_id
                )
            )
        ).all()
    )
    people = await _people(session, [r.user_id for r in rows])
    present = [
        PresentPublic(
            user_id=r.user_id,
            name=people.get(r.user_id, ("A former colleague", ""))[0],
            role=Role(roles.get(r.user_id, Role.attendee)),
            joined_at=r.joined_at,
        )
        for r in rows
        if r.user_id in roles
    ]
    return PresencePublic(present=present, heartbeat_seconds=heartbeat_seconds)


async def heartbeat(
    session: AsyncSession, conference_id: int, *, actor: Actor, now: datetime, heartbeat_seconds: int
) -> PresencePublic:
    """The actor has the room open: recorded as attendance (and for the item on screen); her arrival, or
    return after missed heartbeats, is a ``conference.presence`` event. Observers too: attendance is the
    record of who was there, not a change to the conference."""
    await _role(session, conference_id, actor)
    conference = (
        await session.exec(
            select(Conference)
            .where(col(Conference.id) == conference_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    ).one()
    if conference.status in CLOSED_STATUSES:
        raise InvalidTransition(f"The conference is {conference.status}.")
    window = presence_window(heartbeat_seconds)
    row = await session.get(ConferenceAttendance, (conference_id, actor.user_id))
    arrived = row is None or row.left_at is not None or row.last_seen_at < now - window
    if row is None:
        row = ConferenceAttendance(
            conference_id=conference_id, user_id=actor.user_id, joined_at=now, last_seen_at=now
        )
    row.last_seen_at = now
    row.left_at = None
    session.add(row)
    await session.flush()
    if conference.current_item_id is not None:
        await _attend_item(session, conference_id, conference.current_item_id, [actor.user_id], now)
    current = await _presence(session, conference_id, now, heartbeat_seconds)
    if arrived:
        await events.record(session, stream(conference_id), ConferenceEvent.presence, current, actor=actor)
    return current


async def leave(
    session: AsyncSession, conference_id: int, *, actor: Actor, now: datetime, heartbeat_seconds: int
) -> PresencePublic:
    """The actor closed the room: she leaves the presence list at once (attendance keeps her)."""
    await _role(session, conference_id, actor)
    await session.exec(select(Conference).where(col(Conference.id) == conference_id).with_for_update())
    row = await session.get(ConferenceAttendance, (conference_id, actor.user_id))
    was_present = (
        row is not None
        and row.left_at is None
        and row.last_seen_at >= now - presence_window(heartbeat_seconds)
    )
    if row is not None and row.left_at is None:
        row.left_at = now
        session.add(row)
        await session.flush()
    current = await _presence(session, conference_id, now, heartbeat_seconds)
    if was_present:
        await events.record(session, stream(conference_id), ConferenceEvent.presence, current, actor=actor)
    return current


async def attendance(session: AsyncSession, conference_id: int, *, actor: Actor) -> list[AttendancePublic]:
    """Who joined, when, and for which items (by id)."""
    await _role(session, conference_id, actor)
    return await _attendance(session, conference_id)


async def _attendance(session: AsyncSession, conference_id: int) -> list[AttendancePublic]:
    rows = (
        await session.exec(
            select(ConferenceAttendance, col(ConferenceMember.role))
            .join(
                ConferenceMember,
                sa.and_(
                    col(ConferenceMember.conference_id) == col(ConferenceAttendance.conference_id),
                    col(ConferenceMember.user_id) == col(ConferenceAttendance.user_id),
                ),
                isouter=True,
            )
            .where(col(ConferenceAttendance.conference_id) == conference_id)
            .order_by(col(ConferenceAttendance.joined_at), col(ConferenceAttendance.user_id))
        )
    ).all()
    seen = (
        await session.exec(
            select(col(ItemAttendance.user_id), col(ItemAttendance.item_id))
            .where(col(ItemAttendance.conference_id) == conference_id)
            .order_by(col(ItemAttendance.item_id))
        )
    ).all()
    items_of: dict[int, list[int]] = {}
    for user_id, item_id in seen:
        items_of.setdefault(int(user_id), []).append(int(item_id))
    people = await _people(session, [a.user_id for a, _ in rows])
    return [
        AttendancePublic(
            user_id=a.user_id,
            name=people.get(a.user_id, ("A former colleague", ""))[0],
            role=Role(role or Role.attendee),
            joined_at=a.joined_at,
            last_seen_at=a.last_seen_at,
            left_at=a.left_at,
            item_ids=items_of.get(a.user_id, []),
        )
        for a, role in rows
    ]


# --- Preparing: suggestions, and what changed -------------------------------------------------------------


async def suggest_agenda(
    session: AsyncSession, *, actor: Actor, now: datetime, today: date, limit: int = 20
) -> SuggestionsPublic:
    """Active plans on the actor's care teams that need discussion, most reasons first: overdue tasks or
    referrals, a declined referral since the last review, a goal past its due date, not reviewed for
    3 months. Each plan suggested is an audited read."""
    readable = plans_access.readable_plan_ids(actor)
    plan_rows = await plans.active_plans(session, readable)
    if not plan_rows:
        return SuggestionsPublic(items=[])
    plan_ids = [p.id for p in plan_rows]
    overdue = await plans.overdue_counts(session, plan_ids, today=today)
    referral_flags = await referrals.plan_attention(session, plan_ids, now=now)
    cards = await patients.patient_cards(session, [p.patient_id for p in plan_rows])
    found = []
    for plan in plan_rows:
        reasons: list[Suggestion] = []
        words: list[str] = []
        tasks_late, goals_late = overdue.get(plan.id, (0, 0))
        late_referrals, declined_since = referral_flags.get(plan.id, (0, []))
        declined = [d for d in declined_since if plan.last_reviewed_at is None or d > plan.last_reviewed_at]
        if tasks_late:
            reasons.append(Suggestion.overdue_task)
            words.append(f"{tasks_late} overdue task{'s' if tasks_late > 1 else ''}")
        if late_referrals:
            reasons.append(Suggestion.overdue_referral)
            words.append(f"{late_referrals} overdue referral{'s' if late_referrals > 1 else ''}")
        if declined:
            reasons.append(Suggestion.declined_referral)
            words.append("Declined referral")
        if goals_late:
            reasons.append(Suggestion.goal_overdue)
            words.append(f"{goals_late} goal{'s' if goals_late > 1 else ''} past due")
        reviewed = plan.last_reviewed_at or plan.created_at
        if reviewed < now - REVIEW_EVERY:
            reasons.append(Suggestion.not_reviewed)
            words.append(
                "Not reviewed at conference for 3 months"
                if plan.last_reviewed_at
                else "Never reviewed at conference"
            )
        if reasons:
            found.append(
                SuggestionPublic(
                    plan_id=plan.id,
                    patient_id=plan.patient_id,
                    patient_name=cards.get(plan.patient_id, ("", date.min))[0],
                    plan_title=plan.title,
                    reasons=reasons,
                    reason="; ".join(words),
                    last_reviewed_at=plan.last_reviewed_at,
                )
            )
    found.sort(key=lambda s: (-len(s.reasons), s.patient_name, s.plan_id))
    found = found[:limit]
    audit.record_reads(session, actor, "care_plan", ((s.plan_id, s.patient_id) for s in found))
    return SuggestionsPublic(items=found)


async def item_changes(
    session: AsyncSession, conference_id: int, item_id: int, *, actor: Actor, now: datetime, limit: int = 200
) -> ChangesPublic:
    """What changed on the item's plan since its previous conference ended (its ``last_reviewed_at``, when
    that is before this conference; else the last 30 days), oldest first: the plan's event log after that
    moment. An audited read of the plan."""
    conference, _ = await _readable(session, conference_id, actor)
    item = await _item(session, conference_id, item_id)
    plan = await board.audited_plan(session, item.plan_id, actor=actor, viewing_at=now)
    since = plan.last_reviewed_at
    if since is not None and conference.ended_at is not None and since >= conference.ended_at:
        since = await _previous_review(session, item.plan_id, before=conference.starts_at)
    log = await events.read_since(
        session,
        streams.plan(item.plan_id),
        since or now - FIRST_LOOK,
        until=conference.ended_at,
        limit=limit + 1,
    )
    names = await accounts.display_names(session, [e.actor_id for e in log if e.actor_id])
    return ChangesPublic(
        plan_id=item.plan_id,
        since=since,
        items=[
            ChangePublic(
                seq=e.seq,
                kind=e.kind,
                at=e.at,
                actor_id=e.actor_id,
                who=names.get(e.actor_id, "careteam") if e.actor_id else "careteam",
                data=e.data,
            )
            for e in log[:limit]
        ],
        more=len(log) > limit,
    )


async def _previous_review(session: AsyncSession, plan_id: int, *, before: datetime) -> datetime | None:
    """When the plan was last discussed at a conference that ended before ``before`` (a past conference's
    own "changed since" looks back from its own time, not today's)."""
    ended = (
        await session.exec(
            select(sa.func.max(col(Conference.ended_at)))
            .join(ConferenceItem, col(ConferenceItem.conference_id) == col(Conference.id))
            .where(
                col(ConferenceItem.plan_id) == plan_id,
                col(ConferenceItem.status) == ItemStatus.discussed,
                col(Conference.ended_at) < before,
            )
        )
    ).first()
    return ended


# --- Afterwards -----------------------------------------------------------------------------------------


async def summary(session: AsyncSession, conference_id: int, *, actor: Actor) -> SummaryPublic:
    """The record: attendance, and per item its outcome, decisions (with the tasks and referrals they made)
    and minutes; one audited read per patient on the agenda."""
    conference, role = await _readable(session, conference_id, actor)
    public = await _public(session, conference)
    _audit_items(session, actor, public.items)
    present = await _attendance(session, conference_id)
    names = {a.user_id: a.name for a in present}
    presenters = await accounts.display_names(
        session, [i.presenter_id for i in public.items if i.presenter_id]
    )
    task_ids = [d.task_id for i in public.items for d in i.decisions if d.task_id]
    referral_ids = [d.referral_id for i in public.items for d in i.decisions if d.referral_id]
    task_titles = await tasks.task_titles(session, task_ids)
    referral_disciplines = await referrals.referral_disciplines(session, referral_ids)
    attended: dict[int, list[str]] = {}
    for person in present:
        for item_id in person.item_ids:
            attended.setdefault(item_id, []).append(names[person.user_id])
    return SummaryPublic(
        conference=_listed(conference, role, len(public.items)),
        started_at=conference.started_at,
        ended_at=conference.ended_at,
        attendance=present,
        items=[
            SummaryItem(
                id=i.id,
                plan_id=i.plan_id,
                patient_name=i.patient_name,
                plan_title=i.plan_title,
                reason=i.reason,
                presenter_name=presenters.get(i.presenter_id) if i.presenter_id else None,
                status=i.status,
                minutes=i.minutes,
                decisions=[
                    SummaryDecision(
                        **d.model_dump(),
                        task_title=task_titles.get(d.task_id) if d.task_id else None,
                        referral_discipline=referral_disciplines.get(d.referral_id)
                        if d.referral_id
                        else None,
                    )
                    for d in i.decisions
                ],
                attended_by=attended.get(i.id, []),
            )
            for i in public.items
        ],
    )


# The kinds a decision makes, for pages that label them.
DECISION_LABELS: Final = {
    DecisionKind.note: "Note",
    DecisionKind.task: "Task",
    DecisionKind.referral: "Referral",
}
