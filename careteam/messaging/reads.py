"""Read state: how far each clinician has read each thread, her unread counts, and who has seen a message.

A read position (``MessageRead``) per clinician and thread only moves forward: an upsert whose update is
guarded by ``last_read_id < new``, so two tabs marking read at once keep the larger, and a position that
does not move writes nothing and records no event ("mark read" spam costs nothing).

Counts are never stored: one grouped query counts, per thread of her readable plans, the messages newer
than her position that are neither hers nor removed. Counters kept on each write would race with the
writers; the query is exact whatever commits around it.

Per-user data stays on her stream: marking read records ``messages.read`` (her new counts) on
``user:<id>`` for her other tabs. The plan's stream gets only ``message.seen`` (who read how far). A new
message records nothing per team member: ``message.created`` on the plan's stream is enough for a page to
count it from its read position. Lock order as in every write: the read rows, then the plan streams in id
order, then her user stream.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import SQLModel, col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from careteam.accounts import service as accounts
from careteam.audit import service as audit
from careteam.audit.codes import AuditAction
from careteam.core.actor import Actor
from careteam.core.errors import NotFound
from careteam.db.types import utcnow
from careteam.events import log as events
from careteam.events import streams
from careteam.messaging.codes import ReadEvent
from careteam.messaging.schemas import (
    MessageSeenByPublic,
    MessageSeenPublic,
    MessagesUnreadPublic,
    ThreadReadPublic,
)
from careteam.messaging.tables import Message, MessageRead, thread_key
from careteam.plans import board, tasks
from careteam.plans.access import plan_reader_ids, readable_plan_ids

_MESSAGES = SQLModel.metadata.tables["message"]
_READS = SQLModel.metadata.tables["message_read"]

Thread = tuple[int, int | None]  # (plan_id, task_id or None)


async def _rows(session: AsyncSession, query: sa.Select[Any]) -> list[tuple[Any, ...]]:
    """A Core select's rows, run on the session's connection (in its transaction)."""
    conn = await session.connection()
    return [tuple(row) for row in await conn.execute(query)]


async def _scalar(session: AsyncSession, query: sa.Select[Any]) -> Any:
    rows = await _rows(session, query)
    return rows[0][0] if rows else None


def _in_thread(plan_id: int, task_id: int | None) -> sa.ColumnElement[bool]:
    if task_id is None:
        return sa.and_(_MESSAGES.c.plan_id == plan_id, _MESSAGES.c.task_id.is_(None))
    return _MESSAGES.c.task_id == task_id


# --- Marking read --------------------------------------------------------------------------------


async def mark_plan_read(
    session: AsyncSession, plan_id: int, *, up_to: int | None, actor: Actor
) -> ThreadReadPublic:
    """Mark the plan's team thread read up to a message (its newest if none)."""
    await board.readable_plan(session, plan_id, actor)
    return await _mark(session, (plan_id, None), up_to=up_to, actor=actor)


async def mark_task_read(
    session: AsyncSession, task_id: int, *, up_to: int | None, actor: Actor
) -> ThreadReadPublic:
    """Mark a task's comment thread read up to a message (its newest if none)."""
    task = await tasks.readable_task(session, task_id, actor=actor)
    return await _mark(session, (task.plan_id, task_id), up_to=up_to, actor=actor)


async def _mark(
    session: AsyncSession, thread: Thread, *, up_to: int | None, actor: Actor
) -> ThreadReadPublic:
    plan_id, task_id = thread
    newest = await _scalar(
        session, sa.select(sa.func.max(_MESSAGES.c.id)).where(_in_thread(plan_id, task_id))
    )
    # Never past the newest message: a large up_to must not mark tomorrow's messages read.
    target = min(up_to, int(newest)) if up_to is not None and newest is not None else newest
    moved = target is not None and await _advance(session, actor.user_id, thread, int(target))
    if moved:
        await _seen(session, actor, [(thread, int(target or 0))])
    position = await _position(session, actor.user_id, thread)
    counts = await _counts(session, actor)
    public = ThreadReadPublic(
        thread=thread_key(plan_id, task_id),
        plan_id=plan_id,
        task_id=task_id,
        last_read_id=position,
        thread_unread=counts.get(thread, 0),
        total=sum(counts.values()),
    )
    if moved:
        await events.record(
            session, streams.user(actor.user_id), ReadEvent.read, public.model_dump(mode="json"), actor=actor
        )
    return public


async def mark_all_read(session: AsyncSession, *, actor: Actor) -> MessagesUnreadPublic:
    """Mark every thread of her plans read up to its newest message; her counts after."""
    newest = await _rows(
        session,
        sa.select(_MESSAGES.c.plan_id, _MESSAGES.c.task_id, sa.func.max(_MESSAGES.c.id))
        .where(_MESSAGES.c.plan_id.in_(readable_plan_ids(actor)))
        .group_by(_MESSAGES.c.plan_id, _MESSAGES.c.task_id),
    )
    threads = sorted((((int(row[0]), row[1]), int(row[2])) for row in newest), key=_order)
    moved = [(thread, n) for thread, n in threads if await _advance(session, actor.user_id, thread, n)]
    await _seen(session, actor, moved)
    unread = _unread(await _counts(session, actor))
    if moved:
        data = {"all": True, **unread.model_dump(mode="json")}
        await events.record(session, streams.user(actor.user_id), ReadEvent.read, data, actor=actor)
    return unread


def _order(item: tuple[Thread, int]) -> tuple[int, int]:
    """Threads by plan, its own thread (task 0) first: the order plan streams are locked in."""
    (plan_id, task_id), _ = item
    return plan_id, task_id or 0


async def _advance(session: AsyncSession, user_id: int, thread: Thread, up_to: int) -> bool:
    """Move her position in the thread forward to ``up_to``; False if it was there or past it already."""
    plan_id, task_id = thread
    dialect: Any = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    insert = dialect.insert(_READS).values(
        user_id=user_id,
        plan_id=plan_id,
        task_id=task_id,
        thread=thread_key(plan_id, task_id),
        last_read_id=up_to,
        read_at=utcnow(),
    )
    upsert = insert.on_conflict_do_update(
        index_elements=[_READS.c.user_id, _READS.c.thread],
        set_={"last_read_id": insert.excluded.last_read_id, "read_at": insert.excluded.read_at},
        # Never backwards; and when it would not move, no row comes back.
        where=_READS.c.last_read_id < insert.excluded.last_read_id,
    ).returning(_READS.c.id)
    return (await session.exec(upsert)).first() is not None


async def _seen(session: AsyncSession, actor: Actor, moved: Sequence[tuple[Thread, int]]) -> None:
    """``message.seen`` on each plan's stream whose thread she read further, plan streams in id order."""
    for (plan_id, task_id), up_to in sorted(moved, key=_order):
        data = {"user_id": actor.user_id, "thread": thread_key(plan_id, task_id), "up_to": up_to}
        await board.record(session, plan_id, ReadEvent.seen, data, actor=actor)


async def _position(session: AsyncSession, user_id: int, thread: Thread) -> int:
    query = sa.select(_READS.c.last_read_id).where(
        _READS.c.user_id == user_id, _READS.c.thread == thread_key(*thread)
    )
    return int(await _scalar(session, query) or 0)


# --- Counting ------------------------------------------------------------------------------------


async def unread(session: AsyncSession, *, actor: Actor) -> MessagesUnreadPublic:
    """Her unread messages, in all, per plan and per task (threads of plans she may read now)."""
    return _unread(await _counts(session, actor))


def _read_mark(actor: Actor) -> Any:
    """A message joined to her read mark of its thread (at most one: a mark per user and thread)."""
    m, r = _MESSAGES, _READS
    return sa.and_(
        r.c.user_id == actor.user_id,
        sa.or_(
            r.c.task_id == m.c.task_id,
            sa.and_(m.c.task_id.is_(None), r.c.task_id.is_(None), r.c.plan_id == m.c.plan_id),
        ),
    )


def _unread_by(actor: Actor) -> list[Any]:
    """A message (joined to her read mark) she has not read: by another, after her position."""
    m, r = _MESSAGES, _READS
    return [m.c.author_id != actor.user_id, m.c.id > sa.func.coalesce(r.c.last_read_id, 0)]


async def _counts(session: AsyncSession, actor: Actor) -> dict[Thread, int]:
    """Per thread of her readable plans, the messages after her position, by others, not removed: one
    query. A thread she never marked counts from its start; her rows for plans she left are not joined."""
    m, r = _MESSAGES, _READS
    query = (
        sa.select(m.c.plan_id, m.c.task_id, sa.func.count())
        .select_from(m.outerjoin(r, _read_mark(actor)))
        .where(m.c.plan_id.in_(readable_plan_ids(actor)), m.c.deleted_at.is_(None), *_unread_by(actor))
        .group_by(m.c.plan_id, m.c.task_id)
    )
    return {(int(row[0]), row[1]): int(row[2]) for row in await _rows(session, query)}


async def plan_counts(
    session: AsyncSession, plan_id: int, *, actor: Actor
) -> tuple[int, dict[int, int], dict[int, int]]:
    """In one plan, in one grouped query: her unread messages in its team thread and per task (tasks with
    none left out; none at all in a plan she may not read now, e.g. one lent to her), and each task's
    comments not removed (``messaging.task_comment_counts``)."""
    m, r = _MESSAGES, _READS
    unread = sa.and_(m.c.plan_id.in_(readable_plan_ids(actor)), *_unread_by(actor))
    query = (
        sa.select(m.c.task_id, sa.func.count(), sa.func.count(sa.case((unread, 1))))
        .select_from(m.outerjoin(r, _read_mark(actor)))
        .where(m.c.plan_id == plan_id, m.c.deleted_at.is_(None))
        .group_by(m.c.task_id)
    )
    thread_unread, tasks_unread, comments = 0, {}, {}
    for task_id, total, new in await _rows(session, query):
        if task_id is None:
            thread_unread = int(new)
            continue
        comments[int(task_id)] = int(total)
        if new:
            tasks_unread[int(task_id)] = int(new)
    return thread_unread, tasks_unread, comments


def _unread(counts: dict[Thread, int]) -> MessagesUnreadPublic:
    plans: dict[str, int] = defaultdict(int)
    task_counts: dict[str, int] = {}
    for (plan_id, task_id), n in sorted(counts.items(), key=_order):
        plans[str(plan_id)] += n
        if task_id is not None:
            task_counts[str(task_id)] = n
    return MessagesUnreadPublic(total=sum(counts.values()), plans=dict(plans), tasks=task_counts)


# --- Seen by -------------------------------------------------------------------------------------


async def plan_positions(session: AsyncSession, plan_id: int) -> dict[str, dict[int, int]]:
    """How far each member of the plan's care team (as it is now) has read each of the plan's threads:
    thread (``thread_key``) -> user id -> last read message id, in one query. Not access-checked: for a
    page that read the plan through its permission filter ("seen by" under each message)."""
    rows = await _rows(
        session,
        sa.select(_READS.c.thread, _READS.c.user_id, _READS.c.last_read_id).where(
            _READS.c.plan_id == plan_id, _READS.c.user_id.in_(plan_reader_ids(plan_id))
        ),
    )
    positions: dict[str, dict[int, int]] = defaultdict(dict)
    for thread, user_id, last_read_id in rows:
        positions[str(thread)][int(user_id)] = int(last_read_id)
    return dict(positions)


async def seen_by(session: AsyncSession, message_id: int, *, actor: Actor) -> MessageSeenPublic:
    """Who on the plan's care team (now) has read the message's thread at or past it; an audited read."""
    query = select(Message).where(
        col(Message.id) == message_id, col(Message.plan_id).in_(readable_plan_ids(actor))
    )
    message = (await session.exec(query)).first()
    if message is None:
        raise NotFound("No such message.")
    readers = await session.exec(
        select(MessageRead)
        .where(
            col(MessageRead.thread) == thread_key(message.plan_id, message.task_id),
            col(MessageRead.last_read_id) >= message_id,
            # Only the team as it is now: someone taken off it no longer shows.
            col(MessageRead.user_id).in_(plan_reader_ids(message.plan_id)),
        )
        .order_by(col(MessageRead.read_at), col(MessageRead.user_id))
    )
    rows = list(readers)
    names = await accounts.display_names(session, (r.user_id for r in rows))
    audit.record(session, actor, AuditAction.read, "message", message_id, patient_id=message.patient_id)
    return MessageSeenPublic(
        message_id=message_id,
        items=[
            MessageSeenByPublic(
                user_id=r.user_id,
                display_name=names.get(r.user_id, "A former clinician"),
                last_read_id=r.last_read_id,
                read_at=r.read_at,
            )
            for r in rows
        ],
    )
