"""After a unit of work commits: its events to this process's hub, then a notice per plan on the broker.

The same hand-off for every writer that runs in a serving process: a request (``api/deps.py``) and a
scheduled job (``jobs/runner.py``), so both reach live viewers the same way.
"""

from __future__ import annotations

from sqlmodel.ext.asyncio.session import AsyncSession

from careteam.realtime.broker.base import Broker
from careteam.realtime.hub import Hub


async def publish_committed(session: AsyncSession, *, hub: Hub | None, broker: Broker) -> None:
    """Call after the commit: ``session.info`` holds what ``events.record`` wrote in the transaction."""
    # The hub gets the committed events first, so the notice that follows needs no read of the log.
    committed = session.info.get("plan_events")
    if committed and hub is not None:
        hub.committed(committed)
    notices = session.info.get("plan_notices")
    if notices:
        await broker.publish_many(notices)
