"""The broker interface every backend implements."""

from __future__ import annotations

import asyncio
import inspect
import logging
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Iterable
from typing import Final

from careteam.events.streams import Stream

log = logging.getLogger(__name__)

# Called with (stream, seq) when a stream has new events up to seq.
NoticeHandler = Callable[[Stream, int], Awaitable[None] | None]

# The seq a broker announces after it reconnects: "read whatever is new", since notices may have been lost.
CATCH_UP: Final = 2**62

# Reconnect backoff: first retry soon, then no more often than every few seconds.
BACKOFF_FIRST: Final = 0.1
BACKOFF_MAX: Final = 3.0


class Broker(ABC):
    """Publish after commit; subscribe once per stream per process (the hub does that).

    A broker never raises to its callers for an outage: writes have committed by the time they publish,
    and the hub reads events from the database, so a lost notice delays a viewer, it loses nothing. After
    a reconnect a backend announces ``CATCH_UP`` for every stream it watches.
    """

    def __init__(self) -> None:
        self._handler: NoticeHandler | None = None
        self._streams: set[Stream] = set()

    def set_handler(self, handler: NoticeHandler) -> None:
        """The one receiver in this process: the realtime hub."""
        self._handler = handler

    @property
    def streams(self) -> frozenset[Stream]:
        """The streams this process watches."""
        return frozenset(self._streams)

    async def start(self) -> None:  # noqa: B027 - optional hook
        """Connect; backends without a connection need nothing."""

    async def stop(self) -> None:  # noqa: B027 - optional hook
        """Disconnect."""

    @property
    def reachable(self) -> bool:
        """Whether notices can travel now (``/readyz``): a backend with a connection says if it has one."""
        return True

    @abstractmethod
    async def publish_many(self, notices: Iterable[tuple[Stream, int]]) -> None:
        """Announce committed events: (stream, last seq) pairs. Never raises for a broker outage."""

    @abstractmethod
    async def subscribe(self, stream: Stream) -> None:
        """Start receiving notices for a stream in this process."""

    @abstractmethod
    async def unsubscribe(self, stream: Stream) -> None:
        """Stop receiving notices for a stream."""

    async def deliver(self, stream: Stream, seq: int) -> None:
        """Hand one notice to the hub; a failing handler is logged, never kills the receiving loop."""
        handler = self._handler
        if handler is None or stream not in self._streams:
            return
        try:
            result = handler(stream, seq)
            if inspect.isawaitable(result):
                await result
        except Exception:
            log.exception("realtime handler failed for stream %s", stream)

    async def catch_up(self) -> None:
        """After a reconnect: every watched stream may have missed notices, so read whatever is new."""
        await asyncio.gather(*(self.deliver(stream, CATCH_UP) for stream in list(self._streams)))


def latest(notices: Iterable[tuple[Stream, int]]) -> dict[Stream, int]:
    """The highest seq per stream: one notice per stream is enough to wake a hub."""
    out: dict[Stream, int] = {}
    for stream, seq in notices:
        if seq > out.get(stream, 0):
            out[stream] = seq
    return out
