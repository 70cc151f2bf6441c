"""The broker interface every backend implements."""

from __future__ import annotations

import asyncio
import inspect
import logging
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Iterable
from typing import Final

log = logging.getLogger(__name__)

# Called with (plan_id, seq) when a plan has new events up to seq.
NoticeHandler = Callable[[int, int], Awaitable[None] | None]

# The seq a broker announces after it reconnects: "read whatever is new", since notices may have been lost.
CATCH_UP: Final = 2**62

# Reconnect backoff: first retry soon, then no more often than every few seconds.
BACKOFF_FIRST: Final = 0.1
BACKOFF_MAX: Final = 3.0


class Broker(ABC):
    """Publish after commit; subscribe once per plan per process (the hub does that).

    A broker never raises to its callers for an outage: writes have committed by the time they publish,
    and the hub reads events from the database, so a lost notice delays a viewer, it loses nothing. After
    a reconnect a backend announces ``CATCH_UP`` for every plan it watches.
    """

    def __init__(self) -> None:
        self._handler: NoticeHandler | None = None
        self._plans: set[int] = set()

    def set_handler(self, handler: NoticeHandler) -> None:
        """The one receiver in this process: the realtime hub."""
        self._handler = handler

    @property
    def plans(self) -> frozenset[int]:
        """The plans this process watches."""
        return frozenset(self._plans)

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

    async def deliver(self, plan_id: int, seq: int) -> None:
        """Hand one notice to the hub; a failing handler is logged, never kills the receiving loop."""
        handler = self._handler
        if handler is None or plan_id not in self._plans:
            return
        try:
            result = handler(plan_id, seq)
            if inspect.isawaitable(result):
                await result
        except Exception:
            log.exception("realtime handler failed for plan %s", plan_id)

    async def catch_up(self) -> None:
        """After a reconnect: every watched plan may have missed notices, so read whatever is new."""
        await asyncio.gather(*(self.deliver(plan_id, CATCH_UP) for plan_id in list(self._plans)))


def latest(notices: Iterable[tuple[int, int]]) -> dict[int, int]:
    """The highest seq per plan: one notice per plan is enough to wake a hub."""
    out: dict[int, int] = {}
    for plan_id, seq in notices:
        if seq > out.get(plan_id, 0):
            out[plan_id] = seq
    return out
