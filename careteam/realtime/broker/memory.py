"""The in-process broker: the embedded default for a single server process."""

from __future__ import annotations

from collections.abc import Iterable

from careteam.realtime.broker.base import Broker, latest


class MemoryBroker(Broker):
    async def publish_many(self, notices: Iterable[tuple[int, int]]) -> None:
        for plan_id, seq in latest(notices).items():
            await self.deliver(plan_id, seq)

    async def subscribe(self, plan_id: int) -> None:
        self._plans.add(plan_id)

    async def unsubscribe(self, plan_id: int) -> None:
        self._plans.discard(plan_id)
