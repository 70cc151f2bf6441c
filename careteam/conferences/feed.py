"""A conference's stream ``conference:<id>`` as the realtime hub sees it: its participants read it (taken
off the conference, the hub's re-check ends the subscription), and a subscriber without ``after`` gets the
conference first."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from sqlmodel.ext.asyncio.session import AsyncSession

from careteam.conferences import service as conferences
from careteam.core.actor import Actor
from careteam.events import streams
from careteam.events.streams import Opened, Readers


class ConferenceFeed:
    kind: Final = streams.CONFERENCE
    missing: Final = "No such conference."
    gone: Final = "You are no longer invited to this conference."

    async def open(
        self, session: AsyncSession, stream_id: int, *, snapshot: bool, audited: bool, actor: Actor
    ) -> Opened:
        """The conference (or only its seq) if the actor takes part; one audited read per agenda patient."""
        public = await conferences.get_conference(session, stream_id, actor=actor, audited=audited)
        return Opened(public.last_seq, public.model_dump(mode="json") if snapshot else None)

    async def exists(self, session: AsyncSession, stream_id: int) -> bool:
        return await conferences.conference_exists(session, stream_id)

    def readers(self, stream_ids: Sequence[int]) -> Readers:
        return conferences.readers(stream_ids)


FEED: Final = ConferenceFeed()
