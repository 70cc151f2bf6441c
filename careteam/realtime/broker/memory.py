"""The in-process broker: the embedded default for a single server process."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

from careteam.realtime.broker.base import Broker, latest


class MemoryBroker(Broker):
    def __init__(self) -> None:
        super().__init__()
        self._deliveries: set[asyncio.Task[None]] = set()

    async def publish_many(self, notices: Iterable[tuple[int, int]]) -> None:
        # Delivered in a task of its own, as a remote broker would: the write's answer never waits for the
        # fan-out, however many viewers the plan has.
        for plan_id, seq in latest(notices).items():
            if plan_id in self._plans:
                task = asyncio.create_task(self.deliver(plan_id, seq))
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

    async def subscribe(self, plan_id: int) -> None:
        self._plans.add(plan_id)

    async def unsubscribe(self, plan_id: int) -> None:
        self._plans.discard(plan_id)
