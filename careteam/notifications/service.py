"""A clinician's inbox: notifications to her, her unread count, and the events that keep her pages live.

Every write here goes with an event on the recipient's stream ``user:<id>`` (``InboxEvent``) that carries
her unread count after it, so her header badge follows without a query of its own. Features above this one
(plans, referrals, "My work") call ``notify`` and ``work_changed``; none of them touches the table.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlmodel import SQLModel, col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from careteam.accounts import service as accounts
from careteam.audit import service as audit
from careteam.audit.codes import AuditAction
from careteam.core.actor import Actor
from careteam.db.types import utcnow
from careteam.events import log as events
from careteam.events import streams
from careteam.notifications.codes import InboxEvent, NotificationKind
from careteam.notifications.schemas import NotificationPublic
from careteam.notifications.tables import BODY_MAX, LINK_MAX, TITLE_MAX, Notification

_NOTIFICATIONS = SQLModel.metadata.tables[Notification.__tablename__]
_UNREAD = (
    sa.select(sa.func.count())
    .select_from(_NOTIFICATIONS)
    .where(_NOTIFICATIONS.c.user_id == sa.bindparam("user_id"), _NOTIFICATIONS.c.read_at.is_(None))
)


async def notify(
    session: AsyncSession,
    user_ids: Iterable[int],
    kind: NotificationKind,
    *,
    title: str,
    body: str = "",
    link: str = "",
    patient_id: int | None = None,
    plan_id: int | None = None,
    task_id: int | None = None,
    referral_id: int | None = None,
    actor: Actor | None,
    dedup_key: str | None = None,
) -> list[Notification]:
    """Tell each of these clinicians (not the actor herself, nor a deactivated account) something once.

    Each new notification appears at once in her open pages (``notification.created`` on ``user:<id>``,
    with her unread count after it) and is audited as created. With ``dedup_key`` a recipient who already
    has a notification with that key gets nothing new and no event, also when two transactions race: the
    loser's insert fails on the unique constraint inside a savepoint, and only that savepoint rolls back.
    """
    if link and not (link.startswith("/") and not link.startswith("//") and len(link) <= LINK_MAX):
        # A caller's bug, never a clinician's input: the page renders it as a link to follow.
        raise ValueError(f"a notification links within the site (/plans/4#task-17), not {link[:60]!r}")
    actor_id = actor.user_id if actor else None
    wanted = sorted({user_id for user_id in user_ids if user_id != actor_id})
    if not wanted:
        return []
    users = accounts.directory()
    active = await session.exec(select(users.c.id).where(users.c.id.in_(wanted), users.c.active))
    recipients = sorted(int(user_id) for user_id in active)
    created: list[Notification] = []
    for user_id in recipients:
        notification = Notification(
            user_id=user_id,
            kind=kind,
            title=title[:TITLE_MAX],
            body=body[:BODY_MAX],
            link=link,
            patient_id=patient_id,
            plan_id=plan_id,
            task_id=task_id,
            referral_id=referral_id,
            actor_id=actor_id,
            dedup_key=dedup_key,
        )
        if not await _insert(session, notification):
            continue
        unread = await unread_count(session, user_id)
        data = {**NotificationPublic.model_validate(notification).model_dump(mode="json"), "unread": unread}
        await events.record(
            session,
            streams.user(user_id),
            InboxEvent.notification_created,
            data,
            actor=actor,
            audited=audit.row(
                actor, AuditAction.create, "notification", notification.id, patient_id=patient_id
            ),
        )
        created.append(notification)
    return created


async def _insert(session: AsyncSession, notification: Notification) -> bool:
    """Insert the row; False if it has a dedup key the recipient already has (nothing inserted)."""
    if notification.dedup_key is None:
        session.add(notification)
        await session.flush()
        return True
    try:
        async with session.begin_nested():
            session.add(notification)
    except IntegrityError:
        # Only the duplicate key is expected here; any other integrity error is a bug to surface.
        existing = select(Notification.id).where(
            Notification.user_id == notification.user_id, Notification.dedup_key == notification.dedup_key
        )
        if (await session.exec(existing)).first() is None:
            raise
        return False
    return True


async def work_changed(
    session: AsyncSession,
    user_ids: Iterable[int],
    *,
    actor: Actor | None,
    plan_id: int | None = None,
    reason: str,
) -> None:
    """Tell these clinicians' open "My work" pages that their list changed (an event each, no row)."""
    await tell(
        session, user_ids, InboxEvent.work_changed, {"plan_id": plan_id, "reason": reason}, actor=actor
    )


async def tell(
    session: AsyncSession, user_ids: Iterable[int], kind: str, data: dict[str, Any], *, actor: Actor | None
) -> None:
    """The same event (``kind``, ``data``: a hint, no row) on each of these clinicians' streams ``user:<id>``,
    once each, in id order: the order every write locks user streams in, after its plan's or conversation's
    stream. ``data`` never has a field ``unread`` (the header's notification count)."""
    for user_id in sorted(set(user_ids)):
        await events.record(session, streams.user(user_id), kind, data, actor=actor)


async def list_notifications(
    session: AsyncSession, *, actor: Actor, unread_only: bool = False, offset: int = 0, limit: int = 50
) -> tuple[list[Notification], int, int]:
    """Her notifications, newest first (only unread ones if asked), the total, and her unread count.

    Each one shown is audited as a read of its patient's data.
    """
    query = select(Notification).where(Notification.user_id == actor.user_id)
    if unread_only:
        query = query.where(col(Notification.read_at).is_(None))
    total = (await session.exec(select(func.count()).select_from(query.subquery()))).one()
    rows = list(await session.exec(query.order_by(col(Notification.id).desc()).offset(offset).limit(limit)))
    unread = int(total) if unread_only else await unread_count(session, actor.user_id)
    audit.record_reads(session, actor, "notification", ((n.id, n.patient_id) for n in rows))
    return rows, int(total), unread


async def inbox_seq(session: AsyncSession, user_id: int) -> int:
    """The newest seq of her stream ``user:<id>``: a page read after it follows the stream from there."""
    return await events.last_seq(session, streams.user(user_id))


async def unread_count(session: AsyncSession, user_id: int) -> int:
    """How many of her notifications are unread: one indexed count (it runs on every page she opens)."""
    conn = await session.connection()
    count: Any = (await conn.execute(_UNREAD, {"user_id": user_id})).scalar_one()
    return int(count)


async def mark_read(session: AsyncSession, *, actor: Actor, ids: list[int] | None, all: bool) -> int:
    """Mark her notifications read (``ids``, or ``all``); her unread count after.

    Ids that are not hers, do not exist or are already read are ignored, not refused: a notification read
    in another tab meanwhile is not an error, and another clinician's ids tell her nothing (no 404 that
    would confirm they exist). Her open pages see the change (``notification.read``) unless nothing changed.
    """
    mine = [
        _NOTIFICATIONS.c.user_id == actor.user_id,
        _NOTIFICATIONS.c.read_at.is_(None),
    ]
    if not all:
        if not ids:
            return await unread_count(session, actor.user_id)
        mine.append(_NOTIFICATIONS.c.id.in_(sorted(set(ids))))
    statement = (
        sa.update(_NOTIFICATIONS)
        .where(*mine)
        .values(read_at=utcnow())
        .returning(_NOTIFICATIONS.c.id, _NOTIFICATIONS.c.patient_id)
    )
    changed = sorted((await session.exec(statement)).all())
    unread = await unread_count(session, actor.user_id)
    if not changed:
        return unread
    for notification_id, patient_id in changed:
        audit.record(
            session, actor, AuditAction.update, "notification", notification_id, patient_id=patient_id
        )
    data: dict[str, Any] = {"all": True} if all else {"ids": [row[0] for row in changed]}
    await events.record(
        session,
        streams.user(actor.user_id),
        InboxEvent.notification_read,
        {**data, "unread": unread},
        actor=actor,
    )
    return unread
