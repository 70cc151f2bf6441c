"""Messaging on the care-plan board: the plan's team thread, and what ``thread.js`` needs to keep it live.

The thread is a board panel (``plans.pages.add_board_panel``): plans shows it and knows nothing of
messaging. The newest page is rendered here, oldest at the top, each message as ``<article
id="message-N">``; its ``html`` is the server's sanitised rendering (``render.render``, nh3-clean), the only
user text ever put in the page as HTML. "Seen by" under each message comes from every member's read
position (one query), her unread counts (the thread's, and per task for the cards) from one more; per-user
numbers stay in this page and on her own stream, never in the plan's shared frames.

What a message shows is written twice, here (``message_view``) and in ``thread.js`` (``fillMessage``) for
messages that arrive live: keep them saying the same thing.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from markupsafe import Markup
from sqlmodel.ext.asyncio.session import AsyncSession

from careteam.core.actor import Actor
from careteam.core.vocab import DISCIPLINE_LABELS, Discipline
from careteam.messaging import reads
from careteam.messaging import service as messaging
from careteam.messaging.codes import DISCIPLINE_ALIASES, TEAM
from careteam.messaging.schemas import MessagePublic
from careteam.messaging.tables import thread_key
from careteam.patients.codes import TeamRole
from careteam.plans import pages as plan_pages
from careteam.plans.board import Board
from careteam.web.forms import PageRoute
from careteam.web.templating import utc_time

# No pages of its own: the thread lives on the board.
router = APIRouter(route_class=PageRoute, include_in_schema=False)

# How many of the newest messages the board shows on load; "Load earlier" pages back by as many.
PAGE_SIZE = 30
FORMER = "A former clinician"


def message_view(
    m: MessagePublic,
    *,
    me: int,
    is_lead: bool,
    names: dict[int, str],
    seen: dict[int, int],
    task_titles: dict[int, str],
) -> dict[str, Any]:
    """What one message shows to this viewer (thread.js ``fillMessage`` says the same for live ones)."""
    urgent = m.urgent
    asked = []
    if urgent is not None:
        asked = [names.get(u, FORMER) for u in urgent.users]
        asked += [
            f"any of {DISCIPLINE_LABELS[d]}" if urgent.any_of_discipline else DISCIPLINE_LABELS[d]
            for d in urgent.disciplines
        ]
    return {
        "id": m.id,
        "version": m.version,
        "author_id": m.author.id,
        "author": m.author.display_name,
        "at_iso": m.created_at.isoformat(),
        "at_text": utc_time(m.created_at),
        "edited": m.edited_at is not None and not m.deleted,
        "deleted": m.deleted,
        "body": m.body,
        # Sanitised by render.render (nh3 allow-list) when it was written: the one place user text is HTML.
        "html": Markup(m.html),  # noqa: S704 - nh3-clean HTML from the server's renderer
        "urgent": urgent is not None,
        "asked": asked,
        "waiting": [names.get(u, FORMER) for u in urgent.waiting_for] if urgent else [],
        "acks": [(a.display_name, a.at.isoformat(), utc_time(a.at)) for a in m.acks],
        "may_ack": urgent is not None and me in urgent.waiting_for and not m.deleted,
        "may_edit": m.author.id == me and not m.deleted,
        "may_remove": (m.author.id == me or is_lead) and not m.deleted,
        "seen_by": [
            names.get(u, FORMER)
            for u, position in sorted(seen.items(), key=lambda item: names.get(item[0], FORMER))
            if position >= m.id and u != m.author.id
        ],
        "tasks": [(t, task_titles.get(t, f"Task #{t}")) for t in m.task_ids],
    }


async def _thread_panel(session: AsyncSession, board: Board, actor: Actor) -> plan_pages.BoardPanel:
    plan_id = board.plan.id
    page = await messaging.board_thread_page(session, plan_id, limit=PAGE_SIZE)
    positions = await reads.plan_positions(session, plan_id)
    thread_unread, tasks_unread, comments = await reads.plan_counts(session, plan_id, actor=actor)
    names = {m.user_id: m.display_name for m in board.members}
    is_lead = any(m.user_id == actor.user_id and m.role == TeamRole.lead for m in board.members)
    task_titles = {int(t["id"]): str(t["title"]) for t in board.tasks}
    seen = positions.get(thread_key(plan_id, None), {})
    messages = [
        message_view(m, me=actor.user_id, is_lead=is_lead, names=names, seen=seen, task_titles=task_titles)
        for m in reversed(page.items)
    ]
    disciplines = sorted({m.discipline for m in board.members}, key=list(Discipline).index)
    state = {
        "plan_id": plan_id,
        "me": actor.user_id,
        "is_lead": is_lead,
        "page_size": PAGE_SIZE,
        "members": [
            {
                "user_id": m.user_id,
                "username": m.username,
                "display_name": m.display_name,
                "discipline": m.discipline.value,
            }
            for m in board.members
        ],
        "aliases": sorted([*DISCIPLINE_ALIASES, TEAM]),
        "alias_disciplines": {alias: d.value for alias, d in DISCIPLINE_ALIASES.items()},
        "disciplines": {d.value: label for d, label in DISCIPLINE_LABELS.items()},
        "positions": {thread: {str(u): n for u, n in users.items()} for thread, users in positions.items()},
        "thread_unread": thread_unread,
        "comments": {str(t): n for t, n in comments.items()},
        "tasks_unread": {str(t): n for t, n in tasks_unread.items()},
        # The messages shown, as the API answers them: what the script edits, acknowledges and compares
        # live events with (the page shows them rendered above).
        "messages": [m.model_dump(mode="json") for m in reversed(page.items)],
    }
    context = {
        "plan_id": plan_id,
        "messages": messages,
        "next_before": page.next_before,
        "thread_unread": thread_unread,
        "urgent_members": [
            (m.user_id, m.display_name, DISCIPLINE_LABELS[m.discipline])
            for m in board.members
            if m.user_id != actor.user_id
        ],
        "urgent_disciplines": [(d.value, DISCIPLINE_LABELS[d]) for d in disciplines],
        "state": state,
    }
    return plan_pages.BoardPanel("messaging/thread_panel.html", context)


plan_pages.add_board_panel(_thread_panel)
