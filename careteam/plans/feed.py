"""A plan's stream ``plan:<id>`` as the realtime hub sees it: the board's care team reads it (and whoever the
plan is lent to for reading then: ``plans.access.viewable_plan_ids``), and a subscriber without ``after``
gets the board first."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from sqlmodel.ext.asyncio.session import AsyncSession

from careteam.core.actor import Actor
from careteam.db.types import utcnow
from careteam.events import streams
from careteam.events.streams import Opened, Readers
from careteam.plans.access import plan_viewers
from careteam.plans.board import audited_plan, get_board, plan_exists


class PlanFeed:
    kind: Final = streams.PLAN
    missing: Final = "No such care plan."
    gone: Final = "You are no longer on this plan's care team."

    async def open(
        self, session: AsyncSession, stream_id: int, *, snapshot: bool, audited: bool, actor: Actor
    ) -> Opened:
        """The board (or only its seq) if the actor is on the patient's care team; audited as one read."""
        now = utcnow()
        if snapshot:
            board = await get_board(session, stream_id, actor=actor, viewing_at=now, audited=audited)
            return Opened(board.last_seq, board.model_dump(mode="json"))
        plan = await audited_plan(session, stream_id, actor=actor, viewing_at=now, audited=audited)
        return Opened(plan.last_seq)

    async def exists(self, session: AsyncSession, stream_id: int) -> bool:
        return await plan_exists(session, stream_id)

    def readers(self, stream_ids: Sequence[int]) -> Readers:
        return plan_viewers(stream_ids, utcnow())


FEED: Final = PlanFeed()
