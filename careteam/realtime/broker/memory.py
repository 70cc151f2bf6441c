"""The in-process broker: the embedded default for a single server process."""

from __future__ import annotations

import inspect
from collections.abc import Iterable

from careteam.realtime.broker.base import Broker


class MemoryBroker(Broker):
    def __init__(self) -> None:
        super().__init__()
        self._plans: set[int] = set()

    async def publish_many(self, notices: Iterable[tuple[int, int]]) -> None:
        handler = self._handler
        if handler is None:
            return
        latest: dict[int, int] = {}
        for plan_id, seq in notices:
            latest[plan_id] = max(seq, latest.get(plan_id, 0))
        for plan_id, seq in latest.items():
            if plan_id in self._plans:
                result = handler(plan_id, seq)
                if inspect.isawaitable(result):
                    await result

    async def subscribe(self, plan_id: int) -> None:
        self._plans.add(plan_id)

    async def unsubscribe(self, plan_id: int) -> None:
        self._plans.discard(plan_id)
