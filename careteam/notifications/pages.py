"""Notifications' HTML page: the clinician's inbox, live, with "Mark read" forms."""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from careteam.notifications import service as notifications
from careteam.web.forms import Db, Editor, PageRoute, Viewer, optional_id, see_other
from careteam.web.templating import Pager, page_number, render

NOTIFICATIONS_PER_PAGE = 50

router = APIRouter(route_class=PageRoute, include_in_schema=False)


@router.get("/notifications")
async def inbox(request: Request, session: Db, actor: Viewer, page: str = "1") -> Response:
    """Her notifications, newest first; unread ones stand out, new ones arrive live at the top."""
    pager = Pager("/notifications", page_number(page), NOTIFICATIONS_PER_PAGE, 0)
    # Read before the list: whatever comes in after it arrives live (a row already listed is not repeated).
    after = await notifications.inbox_seq(session, actor.user_id)
    rows, total, unread = await notifications.list_notifications(
        session, actor=actor, offset=pager.offset, limit=pager.size
    )
    # The count the header shows is the one read with the list (a notification may have come in between).
    request.state.unread = unread
    context = {
        "section": "notifications",
        "notifications": rows,
        "pager": replace(pager, total=total),
        "unread": unread,
        "inbox_seq": after,
    }
    return render(request, "notifications/notifications.html", context)


@router.post("/notifications/read")
async def mark_read(
    session: Db,
    actor: Editor,
    id: Annotated[str, Form()] = "",
    all: Annotated[str, Form()] = "",
    page: Annotated[str, Form()] = "1",
) -> Response:
    """Mark one notification read (``id``) or every one (``all``); back to the list where she was."""
    notification_id, ok = optional_id(id)
    if all:
        await notifications.mark_read(session, actor=actor, ids=None, all=True)
    elif ok and notification_id is not None:
        await notifications.mark_read(session, actor=actor, ids=[notification_id], all=False)
    number = page_number(page)
    return see_other("/notifications" if number == 1 else f"/notifications?page={number}")
