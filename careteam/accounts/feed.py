"""A clinician's own stream ``user:<id>``: her inbox (notifications, counts, her worklist), read by her alone
while her account is active. What is per user travels here, never on a plan's stream, so a plan's bytes stay
the same for every viewer."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

import sqlalchemy as sa
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from careteam.accounts.tables import User
from careteam.audit import service as audit
from careteam.audit.codes import AuditAction
from careteam.core.actor import Actor
from careteam.core.errors import NotFound
from careteam.events import log as events
from careteam.events import streams
from careteam.events.streams import Opened, Readers


class UserFeed:
    kind: Final = streams.USER
    missing: Final = "No such inbox: yours is user:<your id>."
    gone: Final = "This account can no longer read this inbox."

    async def open(
        self, session: AsyncSession, stream_id: int, *, snapshot: bool, audited: bool, actor: Actor
    ) -> Opened:
        """Her own inbox only (anyone else's is "not found"); its newest seq, audited as a read."""
        if stream_id != actor.user_id:
            raise NotFound("No such stream.")
        if audited:
            audit.record(session, actor, AuditAction.read, "inbox", stream_id)
        return Opened(await events.last_seq(session, streams.user(stream_id)))

    async def exists(self, session: AsyncSession, stream_id: int) -> bool:
        return (await session.exec(select(col(User.id)).where(col(User.id) == stream_id))).first() is not None

    def readers(self, stream_ids: Sequence[int]) -> Readers:
        """A user's inbox is hers alone, while her account is active."""
        return sa.select(col(User.id), col(User.id)).where(col(User.id).in_(stream_ids), col(User.active))


FEED: Final = UserFeed()
