"""How a process publishes the events its units of work commit (``events.PUBLISHER``).

A server hands them to its own hub first, encoded once, so the fan-out of a local write reads nothing back,
then announces them on the broker for the other processes (and for its own hub's notice). A process without
a hub (the CLI, an import) only announces them.
"""

from __future__ import annotations

from careteam.events.tables import StreamEvent
from careteam.realtime.broker.base import Broker
from careteam.realtime.hub import Hub


class Publisher:
    """Set ``hub``/``broker`` once they exist: the sessionmaker that carries this is made before them."""

    __slots__ = ("broker", "hub")

    def __init__(self, broker: Broker | None = None, hub: Hub | None = None) -> None:
        self.broker = broker
        self.hub = hub

    async def __call__(self, rows: list[StreamEvent]) -> None:
        if self.hub is not None:
            self.hub.committed(rows)  # never raises
        if self.broker is not None:
            # A wake-up call only: the rows are durable. A broker never raises for an outage.
            await self.broker.publish_many([(row.stream, row.seq) for row in rows])
