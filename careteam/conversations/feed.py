"""A conversation's stream ``conversation:<id>`` as the realtime hub sees it: its participants read it, and
for one about a patient only those on her care team now (taken off it, the hub's re-check ends the
subscription)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from sqlmodel.ext.asyncio.session import AsyncSession

from careteam.conversations import service as conversations
from careteam.core.actor import Actor
from careteam.events import log as events
from careteam.events import streams
from careteam.events.streams import Opened, Readers


class ConversationFeed:
    kind: Final = streams.CONVERSATION
    missing: Final = "No such conversation."
    gone: Final = "You can no longer read this conversation."

    async def open(
        self, session: AsyncSession, stream_id: int, *, snapshot: bool, audited: bool, actor: Actor
    ) -> Opened:
        """Its newest seq if the actor may read it (else not found); audited as one read (with its patient).
        No snapshot: the page loads the messages, then follows from the seq it rendered."""
        await conversations.audited_conversation(session, stream_id, actor=actor, audited=audited)
        return Opened(await events.last_seq(session, streams.conversation(stream_id)))

    async def exists(self, session: AsyncSession, stream_id: int) -> bool:
        return await conversations.conversation_exists(session, stream_id)

    def readers(self, stream_ids: Sequence[int]) -> Readers:
        return conversations.conversation_readers(stream_ids)


FEED: Final = ConversationFeed()
