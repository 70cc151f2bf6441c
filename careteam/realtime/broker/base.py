"""The broker interface every backend implements."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Iterable

# Called with (plan_id, seq) when a plan has new events up to seq.
NoticeHandler = Callable[[int, int], Awaitable[None] | None]


class Broker(ABC):
    """Publish after commit; subscribe once per plan per process (the hub does that)."""

    def __init__(self) -> None:
        self._handler: NoticeHandler | None = None

    def set_handler(self, handler: NoticeHandler) -> None:
        """The one receiver in this process: the realtime hub."""
        self._handler = handler

    async def start(self) -> None:  # noqa: B027 - optional hook
        """Connect; backends without a connection need nothing."""

    async def stop(self) -> None:  # noqa: B027 - optional hook
        """Disconnect."""

    @abstractmethod
    async def publish_many(self, notices: Iterable[tuple[int, int]]) -> None:
        """Announce committed events: (plan_id, last seq) pairs. Never raises for a broker outage."""

    @abstractmethod
    async def subscribe(self, plan_id: int) -> None:
        """Start receiving notices for a plan in this process."""

    @abstractmethod
    async def unsubscribe(self, plan_id: int) -> None:
        """Stop receiving notices for a plan."""
