"""The in-process broker: the embedded default for a single server process."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

from careteam.events.streams import Stream
from careteam.realtime.broker.base import Broker, latest


class MemoryBroker(Broker):
    def __init__(self) -> None:
        super().__init__()
        self._deliveries: set[asyncio.Task[None]] = set()

    async def publish_many(self, notices: Iterable[tuple[Stream, int]]) -> None:
        # Delivered in a task of its own, as a remote broker would: the write's answer never waits for the
        # fan-out, however many viewers the stream has.
        for stream, seq in latest(notices).items():
            if stream in self._streams:
                task = asyncio.create_task(self.deliver(stream, seq))
                self._deliveries.add(task)
                task.add_done_callback(self._deliveries.discard)

    async def delivered(self) -> None:
        """Wait until every notice published so far has reached the hub."""
        while self._deliveries:
            await asyncio.gather(*self._deliveries, return_exceptions=True)

    async def stop(self) -> None:
        for task in list(self._deliveries):
            task.cancel()
        await asyncio.gather(*self._deliveries, return_exceptions=True)

    async def subscribe(self, stream: Stream) -> None:
        self._streams.add(stream)

    async def unsubscribe(self, stream: Stream) -> None:
        self._streams.discard(stream)
