"""Messaging: a plan's team thread and each task's comment thread (FHIR Communication).

Only the plan's care team reads or writes a thread (anyone else: not found, as for the plan). Each write
is one unit of work: the row, its event on the plan's stream ``plan:<id>`` with its audit row
(``plans.board.record``), then "My work" told and a notification for everyone it reaches. Lock order, as
in every write: the plan's stream, then the user streams in id order (``work_changed``), then the
notifications.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from careteam.accounts import service as accounts
from careteam.audit import service as audit
from careteam.audit.codes import AuditAction
from careteam.core.actor import Actor
from careteam.core.errors import Conflict, Forbidden, InvalidTransition, NotFound
from careteam.db.types import utcnow
from careteam.messaging import acks, paging
from careteam.messaging.codes import DISCIPLINE_ALIASES, MENTION, TEAM, MessageEvent, ReadEvent
from careteam.messaging.render import first_line, prose, render
from careteam.messaging.schemas import (
    AckPublic,
    AuthorPublic,
    MessageCreate,
    MessagePublic,
    MessagesPublic,
    MessageTaskCreate,
    MessageUpdate,
    UrgentPublic,
)
from careteam.messaging.tables import Message, MessageAck, MessageRevision, thread_key
from careteam.notifications import service as notifications
from careteam.notifications.codes import NotificationKind
from careteam.patients import service as patients
from careteam.patients.codes import TeamRole
from careteam.patients.schemas import MemberPublic
from careteam.plans import board, tasks
from careteam.plans.access import readable_plan_ids
from careteam.plans.schemas import TaskCreate, TaskPublic


@dataclass(frozen=True, slots=True)
class _Plan:
    """What a write needs of the thread's plan (read through the permission filter)."""

    id: int
    patient_id: int
    title: str


# --- Mentions ------------------------------------------------------------------------------------


def mentioned(body: str, team: Sequence[MemberPublic], *, author_id: int) -> list[int]:
    """The care team members a message's @mentions reach (never its author), by id.

    ``@team``, a discipline (``codes.DISCIPLINE_ALIASES``) or a username in the text (not in code),
    matched only against the team: a name off the team reaches nobody, and the answer does not say whether
    it exists.
    """
    reached: set[int] = set()
    for word in MENTION.findall(prose(body)):
        name = word.lower()
        if name == TEAM:
            reached.update(m.user_id for m in team)
        elif name in DISCIPLINE_ALIASES:
            reached.update(m.user_id for m in team if m.discipline == DISCIPLINE_ALIASES[name])
        else:
            reached.update(m.user_id for m in team if m.username.lower() == name)
    reached.discard(author_id)
    return sorted(reached)


# --- Reads ---------------------------------------------------------------------------------------


async def list_plan_messages(
    session: AsyncSession,
    plan_id: int,
    *,
    actor: Actor,
    before: int | None = None,
    after: int | None = None,
    limit: int = 50,
) -> MessagesPublic:
    """A page of the plan's team thread (not its task comments); one audited read."""
    await board.audited_plan(session, plan_id, actor=actor)
    return await _page(session, plan_id, None, before=before, after=after, limit=limit)


async def board_thread_page(session: AsyncSession, plan_id: int, *, limit: int) -> MessagesPublic:
    """The newest page of the plan's team thread, for its board page: not access-checked nor audited
    again, since the page read the plan through its permission filter and audited that read."""
    return await _page(session, plan_id, None, before=None, after=None, limit=limit)


async def list_task_messages(
    session: AsyncSession,
    task_id: int,
    *,
    actor: Actor,
    before: int | None = None,
    after: int | None = None,
    limit: int = 50,
) -> MessagesPublic:
    """A page of a task's comment thread; one audited read."""
    _, plan = await _task_and_plan(session, task_id, actor)
    audit.record(session, actor, AuditAction.read, "task", task_id, patient_id=plan.patient_id)
    return await _page(session, plan.id, task_id, before=before, after=after, limit=limit)


async def _page(
    session: AsyncSession,
    plan_id: int,
    task_id: int | None,
    *,
    before: int | None,
    after: int | None,
    limit: int,
) -> MessagesPublic:
    """Cursors are ids, so a page stays the same while new messages arrive: ``before`` (or none) pages
    back from the newest, ``after`` forward from an id."""
    query = select(Message).where(
        col(Message.plan_id) == plan_id,
        col(Message.task_id).is_(None) if task_id is None else col(Message.task_id) == task_id,
    )
    page = await paging.by_id(session, query, col(Message.id), before=before, after=after, limit=limit)
    return MessagesPublic(
        items=await _public(session, page.rows), next_before=page.next_before, next_after=page.next_after
    )


async def get_message(session: AsyncSession, message_id: int, *, actor: Actor) -> MessagePublic:
    """One message of her plans' threads (a removed one without its text), e.g. to find which thread a
    link's message is in; an audited read. Not found for anyone off the plan's care team."""
    query = select(Message).where(
        col(Message.id) == message_id, col(Message.plan_id).in_(readable_plan_ids(actor))
    )
    message = (await session.exec(query)).first()
    if message is None:
        raise NotFound("No such message.")
    audit.record(session, actor, AuditAction.read, "message", message.id, patient_id=message.patient_id)
    return (await _public(session, [message]))[0]


@dataclass(frozen=True, slots=True)
class Awaiting:
    """An urgent message awaiting the clinician's acknowledgement, and where on its plan's page it is."""

    message: MessagePublic
    patient_id: int
    link: str


# "My work" looks at the newest this many urgent messages that may concern her and she has not acknowledged
# (some a colleague answered for her discipline): an old one beyond them would not show.
AWAITING_MOST = 200


async def awaiting_acknowledgement(
    session: AsyncSession, *, actor: Actor, patient_id: int | None = None
) -> list[Awaiting]:
    """The urgent messages of her plans that still await her acknowledgement, oldest first (asked by name or
    through her discipline, and for "any one of a discipline" no colleague did yet); not removed ones.
    A constant number of queries; not audited here ("My work" audits what it shows)."""
    disciplines = await patients.member_disciplines(session, actor.user_id)
    query = select(Message).where(
        col(Message.plan_id).in_(readable_plan_ids(actor)),
        col(Message.deleted_at).is_(None),
        col(Message.author_id) != actor.user_id,
        col(Message.id).in_(acks.asked(actor.user_id, disciplines)),
        col(Message.id).not_in(acks.acknowledged_by(actor.user_id)),
    )
    if patient_id is not None:
        query = query.where(col(Message.patient_id) == patient_id)
    newest = await session.exec(query.order_by(col(Message.id).desc()).limit(AWAITING_MOST))
    found = list(reversed(list(newest)))
    if not found:
        return []
    return [
        Awaiting(
            message=public,
            patient_id=m.patient_id,
            link=f"/plans/{m.plan_id}#{link_anchor(public.id, m.task_id)}",
        )
        for m, public in zip(found, await _public(session, found), strict=True)
        if public.urgent is not None and actor.user_id in public.urgent.waiting_for
    ]


async def awaited(session: AsyncSession, message_ids: Iterable[int]) -> dict[int, list[int]]:
    """Who is still awaited on each of these urgent messages (user ids; empty once acknowledged, or when
    it was removed), by message id: for a feature whose own read checked access (medications' cards).
    Not audited; a constant number of queries."""
    ids = sorted(set(message_ids))
    if not ids:
        return {}
    query = select(
        col(Message.id), col(Message.author_id), col(Message.patient_id), col(Message.deleted_at)
    ).where(col(Message.id).in_(ids))
    found = [(int(m or 0), int(a), int(p), d) for m, a, p, d in await session.exec(query)]
    urgency = await acks.urgencies(session, ids)
    teams = await patients.team_disciplines(session, {row[2] for row in found})
    return {
        message_id: (
            []
            if deleted_at is not None or message_id not in urgency
            else sorted(urgency[message_id].waiting_for(teams[patient_id], author_id=author_id))
        )
        for message_id, author_id, patient_id, deleted_at in found
    }


# --- Writes --------------------------------------------------------------------------------------


async def post_plan_message(
    session: AsyncSession, plan_id: int, body: MessageCreate, *, actor: Actor, now: datetime | None = None
) -> MessagePublic:
    """Write in the plan's team thread; whoever it @mentions on the care team is notified."""
    plan = await _plan(session, plan_id, actor)
    return await _post(session, plan, None, body, actor=actor, now=now or utcnow())


async def post_task_message(
    session: AsyncSession, task_id: int, body: MessageCreate, *, actor: Actor, now: datetime | None = None
) -> MessagePublic:
    """Comment on a task; its assignee and earlier commenters hear of it, as do those @mentioned. The task
    itself (its version) does not change."""
    assignee_id, plan = await _task_and_plan(session, task_id, actor)
    return await _post(
        session, plan, task_id, body, actor=actor, now=now or utcnow(), assignee_id=assignee_id
    )


async def _post(
    session: AsyncSession,
    plan: _Plan,
    task_id: int | None,
    body: MessageCreate,
    *,
    actor: Actor,
    now: datetime,
    assignee_id: int | None = None,
) -> MessagePublic:
    team = await patients.team_members(session, plan.patient_id)
    roster = {m.user_id: m.discipline for m in team}
    if body.urgent is not None:
        acks.check(body.urgent, roster, author_id=actor.user_id)
    reached = mentioned(body.body, team, author_id=actor.user_id)
    message = Message(
        plan_id=plan.id,
        task_id=task_id,
        patient_id=plan.patient_id,
        author_id=actor.user_id,
        body=body.body,
        html=render(body.body),
        mentions=reached,
        created_at=now,
    )
    repliers: list[int] = []
    if task_id is not None:
        # Before the insert: the earlier commenters, not this message's author by way of this message.
        earlier = await session.exec(
            select(col(Message.author_id)).where(col(Message.task_id) == task_id).distinct()
        )
        on_team = {m.user_id for m in team}
        candidates = {int(a) for a in earlier} | ({assignee_id} if assignee_id else set())
        repliers = sorted(u for u in candidates & on_team if u != actor.user_id and u not in reached)
    session.add(message)
    await session.flush()
    asked: list[int] = []
    if body.urgent is not None:
        session.add_all(acks.rows(message.id or 0, body.urgent))
        await session.flush()
        urgency = acks.Urgency(
            users=tuple(body.urgent.users),
            disciplines=tuple(body.urgent.disciplines),
            any_of_discipline=body.urgent.any_of_discipline,
            acks={},
        )
        asked = sorted(urgency.waiting_for(roster, author_id=actor.user_id))
    public = await _changed(session, message, MessageEvent.created, AuditAction.create, actor)
    # The header's Messages badge of everyone else on the team moves on any page: a hint (no text) on each
    # one's user:<id>, in ONE pass in user-id order, after the plan's stream and before ``_tell``, whose
    # work.changed and notifications touch a subset of these same streams (already locked by then). So the
    # lock order stays: the plan's stream, then user streams in ascending id order, never a lower after a
    # higher.
    thread = thread_key(plan.id, task_id)
    hint = {"plan_id": plan.id, "task_id": task_id, "message_id": message.id, "thread": thread}
    others = (m.user_id for m in team if m.user_id != actor.user_id)
    await notifications.tell(session, others, ReadEvent.unread, hint, actor=actor)
    await _tell(
        session, message, plan, actor, MessageEvent.created, mentions=reached, replies=repliers, urgent=asked
    )
    return public


async def acknowledge(
    session: AsyncSession, message_id: int, *, actor: Actor, now: datetime | None = None
) -> MessagePublic:
    """Acknowledge an urgent message one is asked to (by name or discipline); the sender and everyone
    viewing the plan see it at once, and it leaves the "My work" of those no longer awaited. Again: the
    message as it is, nothing new. 403 if she is not asked; 409 if it was removed."""
    message = await _for_update(session, message_id, actor)
    urgency = (await acks.urgencies(session, [message_id])).get(message_id)
    team = (await patients.team_disciplines(session, [message.patient_id]))[message.patient_id]
    if urgency is None or actor.user_id not in urgency.may_acknowledge(team, author_id=message.author_id):
        raise Forbidden("You are not asked to acknowledge this message.")
    if message.deleted_at is not None:
        raise InvalidTransition("This message was removed.")
    if actor.user_id in urgency.acks:
        # Already acknowledged: answered again (an audited read of what it shows), nothing recorded.
        audit.record(session, actor, AuditAction.read, "message", message.id, patient_id=message.patient_id)
        return (await _public(session, [message]))[0]
    before = urgency.waiting_for(team, author_id=message.author_id)
    session.add(MessageAck(message_id=message_id, user_id=actor.user_id, at=now or utcnow()))
    await session.flush()
    public = await _changed(session, message, MessageEvent.acknowledged, AuditAction.update, actor)
    after = set(public.urgent.waiting_for) if public.urgent else set()
    if before - after:
        await notifications.work_changed(
            session, before - after, actor=actor, plan_id=message.plan_id, reason=MessageEvent.acknowledged
        )
    return public


async def edit_message(
    session: AsyncSession,
    message_id: int,
    body: MessageUpdate,
    *,
    expected_version: int,
    actor: Actor,
    now: datetime | None = None,
) -> MessagePublic:
    """Change one's own message; its earlier text is kept. 412 with the current message if it changed
    first. Anyone newly @mentioned is notified."""
    now = now or utcnow()
    message = await _for_update(session, message_id, actor)
    if message.author_id != actor.user_id:
        raise Forbidden("Only its author edits a message.")
    await _ensure_version(session, message, expected_version, actor)
    if message.deleted_at is not None:
        raise InvalidTransition("This message was removed.")
    session.add(
        MessageRevision(
            message_id=message.id or 0,
            version=message.version,
            body=message.body,
            edited_at=now,
            editor_id=actor.user_id,
        )
    )
    team = await patients.team_members(session, message.patient_id)
    reached = mentioned(body.body, team, author_id=actor.user_id)
    new = [u for u in reached if u not in set(message.mentions)]
    message.body, message.html, message.mentions = body.body, render(body.body), reached
    message.version += 1
    message.edited_at = now
    public = await _changed(session, message, MessageEvent.edited, AuditAction.update, actor)
    if new:
        plan = await _plan(session, message.plan_id, actor)
        await _tell(session, message, plan, actor, MessageEvent.edited, mentions=new, replies=[])
    return public


async def delete_message(
    session: AsyncSession,
    message_id: int,
    *,
    expected_version: int,
    actor: Actor,
    now: datetime | None = None,
) -> MessagePublic:
    """Remove a message (its author, or the care team's lead): the thread shows it as removed."""
    message = await _for_update(session, message_id, actor)
    if message.author_id != actor.user_id:
        member = await patients.membership(session, message.patient_id, actor.user_id)
        if member is None or member[0] != TeamRole.lead:
            raise Forbidden("Only its author or the care team's lead removes a message.")
    await _ensure_version(session, message, expected_version, actor)
    if message.deleted_at is not None:
        raise InvalidTransition("This message was already removed.")
    message.deleted_at, message.deleted_by = now or utcnow(), actor.user_id
    message.version += 1
    return await _changed(session, message, MessageEvent.deleted, AuditAction.delete, actor)


# A task's title is at most this long (plans' ``Title``); a message's first line is cut to it.
TASK_TITLE_MAX = 200
UNTITLED_TASK = "Task from a message"


async def make_task(
    session: AsyncSession, message_id: int, body: MessageTaskCreate, *, actor: Actor
) -> TaskPublic:
    """Turn a message into a task on its plan's board (live, as any new task), linked both ways: the task
    keeps the message's id, the message lists the task. 409 if the message was removed."""
    message = await _for_update(session, message_id, actor)
    if message.deleted_at is not None:
        raise InvalidTransition("This message was removed.")
    title = body.title or first_line(message.body)[:TASK_TITLE_MAX].strip() or UNTITLED_TASK
    discipline = body.discipline
    if discipline is None:
        team = {m.user_id: m.discipline for m in await patients.team_members(session, message.patient_id)}
        discipline = team.get(message.author_id) or team.get(actor.user_id) or actor.discipline
    task = await tasks.create_task(
        session,
        message.plan_id,
        TaskCreate(title=title, discipline=discipline),
        actor=actor,
        message_id=message.id,
    )
    return TaskPublic.model_validate(task)


async def check_replayed_task_from_message(session: AsyncSession, message_id: int, *, actor: Actor) -> None:
    """A retried "make this a task" is answered again only while the actor still reads the message's plan;
    the answer shows the task, so it is an audited read."""
    message = await _for_update(session, message_id, actor)
    audit.record(session, actor, AuditAction.read, "message", message_id, patient_id=message.patient_id)


async def task_comment_counts(session: AsyncSession, plan_id: int) -> dict[int, int]:
    """Per task of the plan, its comments not removed (tasks with none left out), in one grouped query. Not
    access-checked: for a page that read the plan through its permission filter."""
    rows = await session.exec(
        select(col(Message.task_id), sa.func.count())
        .where(
            col(Message.plan_id) == plan_id,
            col(Message.task_id).is_not(None),
            col(Message.deleted_at).is_(None),
        )
        .group_by(col(Message.task_id))
    )
    return {int(task_id or 0): int(n) for task_id, n in rows}


async def check_replayed_plan_post(session: AsyncSession, plan_id: int, *, actor: Actor) -> None:
    """A retried post (same Idempotency-Key) is answered again only while the actor still reads the plan;
    the answer shows the message, so it is an audited read."""
    await board.audited_plan(session, plan_id, actor=actor)


async def check_replayed_task_post(session: AsyncSession, task_id: int, *, actor: Actor) -> None:
    """As ``check_replayed_plan_post``, for a task's comment."""
    _, plan = await _task_and_plan(session, task_id, actor)
    audit.record(session, actor, AuditAction.read, "task", task_id, patient_id=plan.patient_id)


# --- Helpers -------------------------------------------------------------------------------------


async def _plan(session: AsyncSession, plan_id: int, actor: Actor) -> _Plan:
    plan = await board.readable_plan(session, plan_id, actor)
    return _Plan(id=plan.id or 0, patient_id=plan.patient_id, title=plan.title)


async def _task_and_plan(session: AsyncSession, task_id: int, actor: Actor) -> tuple[int | None, _Plan]:
    """The task's assignee and its plan, if the plan is one of the actor's (else not found)."""
    task = await tasks.readable_task(session, task_id, actor=actor)
    return task.assignee_id, await _plan(session, task.plan_id, actor)


async def _for_update(session: AsyncSession, message_id: int, actor: Actor) -> Message:
    """The message, locked to the commit, if it is in a thread of one of the actor's plans."""
    query = (
        select(Message)
        .where(col(Message.id) == message_id, col(Message.plan_id).in_(readable_plan_ids(actor)))
        .with_for_update(of=Message)
        .execution_options(populate_existing=True)
    )
    message = (await session.exec(query)).first()
    if message is None:
        raise NotFound("No such message.")
    return message


async def _ensure_version(session: AsyncSession, message: Message, expected: int, actor: Actor) -> None:
    if message.version != expected:
        raise Conflict(
            "Someone changed this message first.",
            current=(await _public(session, [message]))[0],
            actor=actor,
            shown=("message", message.id, message.patient_id),
        )


async def _changed(
    session: AsyncSession, message: Message, kind: MessageEvent, action: AuditAction, actor: Actor
) -> MessagePublic:
    """Write the row and put the event (with its audit row) on the plan's stream."""
    session.add(message)
    await session.flush()
    public = (await _public(session, [message]))[0]
    await board.record(
        session,
        message.plan_id,
        kind,
        public,
        actor=actor,
        audited=audit.row(actor, action, "message", message.id, patient_id=message.patient_id),
    )
    return public


async def _tell(
    session: AsyncSession,
    message: Message,
    plan: _Plan,
    actor: Actor,
    reason: MessageEvent,
    *,
    mentions: Iterable[int],
    replies: Iterable[int],
    urgent: Iterable[int] = (),
) -> None:
    """``work.changed`` for everyone reached first (user streams in id order), then their notifications:
    one each, an urgent one for those asked to acknowledge."""
    urgent = sorted(urgent)
    mentions = [u for u in mentions if u not in urgent]
    replies = [u for u in replies if u not in urgent]
    if not mentions and not replies and not urgent:
        return
    await notifications.work_changed(
        session, [*mentions, *replies, *urgent], actor=actor, plan_id=message.plan_id, reason=reason
    )
    anchor = link_anchor(message.id or 0, message.task_id)
    where = "a task comment" if message.task_id is not None else plan.title
    for users, kind, title in (
        (urgent, NotificationKind.message_urgent, f"Urgent from {actor.display_name}: please acknowledge"),
        (mentions, NotificationKind.message_mention, f"{actor.display_name} mentioned you in {where}"),
        (replies, NotificationKind.message_reply, f"{actor.display_name} commented on a task you follow"),
    ):
        if users:
            await notifications.notify(
                session,
                users,
                kind,
                title=title,
                body=message.body,
                link=f"/plans/{message.plan_id}#{anchor}",
                patient_id=message.patient_id,
                plan_id=message.plan_id,
                task_id=message.task_id,
                actor=actor,
            )


def link_anchor(message_id: int, task_id: int | None) -> str:
    """Where on the plan's page a message is: its task's card for a comment, else the team thread."""
    return f"task-{task_id}" if task_id is not None else f"message-{message_id}"


async def _public(session: AsyncSession, rows: Sequence[Message]) -> list[MessagePublic]:
    """The messages as the care team sees them (a removed one without its text), names in one query, the
    tasks made from them in one more; for urgent ones their requirements, acknowledgements and the team
    they resolve against, in three more."""
    urgencies = await acks.urgencies(session, (m.id or 0 for m in rows))
    teams = await patients.team_disciplines(session, {m.patient_id for m in rows if (m.id or 0) in urgencies})
    acked = (u for urgency in urgencies.values() for u in urgency.acks)
    names = await accounts.display_names(session, [*(m.author_id for m in rows), *acked])
    made = await tasks.message_task_ids(session, (m.id or 0 for m in rows))

    def urgent_of(m: Message) -> tuple[UrgentPublic | None, list[AckPublic], bool]:
        urgency = urgencies.get(m.id or 0)
        if urgency is None:
            return None, [], False
        waiting = sorted(urgency.waiting_for(teams[m.patient_id], author_id=m.author_id))
        shown = UrgentPublic(
            users=list(urgency.users),
            disciplines=list(urgency.disciplines),
            any_of_discipline=urgency.any_of_discipline,
            waiting_for=waiting,
        )
        done = [
            AckPublic(user_id=u, display_name=names.get(u, "A former clinician"), at=at)
            for u, at in urgency.acks.items()
        ]
        return shown, done, not waiting

    answer = []
    for m in rows:
        urgent, done, acknowledged = urgent_of(m)
        answer.append(
            MessagePublic(
                id=m.id or 0,
                plan_id=m.plan_id,
                task_id=m.task_id,
                body="" if m.deleted_at else m.body,
                html="" if m.deleted_at else m.html,
                author=AuthorPublic(
                    id=m.author_id, display_name=names.get(m.author_id, "A former clinician")
                ),
                mentions=[] if m.deleted_at else list(m.mentions),
                created_at=m.created_at,
                edited_at=m.edited_at,
                deleted=m.deleted_at is not None,
                version=m.version,
                urgent=urgent,
                acks=done,
                acknowledged=acknowledged,
                task_ids=made.get(m.id or 0, []),
            )
        )
    return answer


async def bylines(
    session: AsyncSession, message_ids: Iterable[int], *, actor: Actor
) -> dict[int, tuple[str, datetime]]:
    """Who wrote each of these messages and when, by id (for search's results): only messages of the
    actor's plans, not removed; one query and the names in one more. Not audited: the caller shows them
    with what it has already audited."""
    ids = sorted(set(message_ids))
    if not ids:
        return {}
    rows = list(
        await session.exec(
            select(col(Message.id), col(Message.author_id), col(Message.created_at)).where(
                col(Message.id).in_(ids),
                col(Message.plan_id).in_(readable_plan_ids(actor)),
                col(Message.deleted_at).is_(None),
            )
        )
    )
    names = await accounts.display_names(session, [author for _, author, _ in rows])
    return {int(mid or 0): (names.get(author, "A former clinician"), at) for mid, author, at in rows}


def searchable_messages() -> sa.Subquery:
    """Every message not removed as a search document (``id``, ``plan_id``, ``task_id``, ``patient_id``,
    ``document``: its Markdown), for search to match without touching this feature's tables. Not
    access-checked: filter it by ``readable_plan_ids``."""
    return (
        sa.select(
            col(Message.id).label("id"),
            col(Message.plan_id).label("plan_id"),
            col(Message.task_id).label("task_id"),
            col(Message.patient_id).label("patient_id"),
            col(Message.body).label("document"),
        )
        .where(col(Message.deleted_at).is_(None))
        .subquery("searchable_messages")
    )
