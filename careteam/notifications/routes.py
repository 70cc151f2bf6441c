"""Notifications: the JSON API of a clinician's own inbox (``/me/notifications``)."""

from __future__ import annotations

from fastapi import APIRouter

from careteam.notifications import service as notifications
from careteam.notifications.schemas import MarkRead, NotificationPublic, NotificationsPublic, UnreadPublic
from careteam.web.deps import CurrentActor, Limit, Offset, SessionDep

router = APIRouter(tags=["notifications"])


@router.get("/me/notifications")
async def list_notifications(
    actor: CurrentActor, session: SessionDep, limit: Limit, offset: Offset = 0, unread: bool = False
) -> NotificationsPublic:
    """Your notifications, newest first (``unread=true``: only the unread ones), and your unread count."""
    rows, total, unread_count = await notifications.list_notifications(
        session, actor=actor, unread_only=unread, offset=offset, limit=limit
    )
    return NotificationsPublic(
        items=[NotificationPublic.model_validate(n) for n in rows],
        total=total,
        offset=offset,
        limit=limit,
        unread=unread_count,
    )


@router.post("/me/notifications/read")
async def mark_read(body: MarkRead, actor: CurrentActor, session: SessionDep) -> UnreadPublic:
    """Mark some of your notifications read (``ids``) or all of them (``all: true``); your unread count after.

    Ids that are not yours, unknown or already read change nothing (no error: another tab may have read
    them first).
    """
    unread = await notifications.mark_read(session, actor=actor, ids=body.ids, all=body.all)
    return UnreadPublic(unread=unread)
