"""Redis pub/sub: notices between processes and hosts.

Channel ``careteam:<stream>`` (``careteam:plan:42``), payload the seq."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from careteam import metrics
from careteam.events.streams import Stream
from careteam.realtime.broker.base import BACKOFF_FIRST, BACKOFF_MAX, Broker, latest

log = logging.getLogger(__name__)

PREFIX = "careteam:"
# A channel every process listens to, so the reader has a subscription (and notices a dead link) even
# when it watches no stream.
CONTROL = "careteam:control"


def channel(stream: Stream) -> str:
    return f"{PREFIX}{stream}"


def stream_of(name: str) -> Stream | None:
    """The stream a channel carries; None for the control channel or a name not ours."""
    if not name.startswith(PREFIX) or name == CONTROL:
        return None
    try:
        return Stream.parse(name[len(PREFIX) :])
    except ValueError:
        return None


class RedisBroker(Broker):
    def __init__(self, url: str) -> None:
        super().__init__()
        self._url = url
        self._client: aioredis.Redis | None = None
        self._pubsub: Any = None
        self._reader: asyncio.Task[None] | None = None
        self.connected = asyncio.Event()
        self._stopping = False
        # SUBSCRIBEs waiting for Redis to confirm them (the reader sees the confirmation).
        self._confirming: dict[str, asyncio.Future[None]] = {}
        # How long a (re)connect waits for Redis to confirm its SUBSCRIBEs before it gives up and retries.
        self.confirm_timeout = 5.0

    async def start(self) -> None:
        # Short timeouts: a write must not wait long on a broker outage (its events are committed anyway).
        self._client = aioredis.from_url(
            self._url,
            socket_connect_timeout=1.0,
            socket_timeout=1.0,
            health_check_interval=5,
            decode_responses=True,
        )
        self._reader = asyncio.create_task(self._run(), name="careteam-redis-broker")

    async def stop(self) -> None:
        # A flag as well as cancel(): a client library that swallows CancelledError must not keep us looping.
        self._stopping = True
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        if self._client is not None:
            await self._client.aclose()

    @property
    def reachable(self) -> bool:
        return self.connected.is_set()

    async def publish_many(self, notices: Iterable[tuple[Stream, int]]) -> None:
        if self._client is None or not self.connected.is_set():
            return  # down: subscribers catch up from the log when the link is back
        try:
            async with self._client.pipeline(transaction=False) as pipe:
                for stream, seq in latest(notices).items():
                    pipe.publish(channel(stream), str(seq))
                await pipe.execute()
        except (RedisError, OSError) as exc:
            log.warning(
                "redis publish failed (%s); viewers will catch up from the event log", type(exc).__name__
            )

    async def subscribe(self, stream: Stream) -> None:
        self._streams.add(stream)
        await self._send("subscribe", stream)

    async def unsubscribe(self, stream: Stream) -> None:
        self._streams.discard(stream)
        await self._send("unsubscribe", stream)

    async def _send(self, verb: str, stream: Stream) -> None:
        """SUBSCRIBE returns once Redis confirmed it: from then on no notice for the stream can slip by."""
        pubsub = self._pubsub
        if pubsub is None:
            return  # the reader (re)subscribes to every watched stream when it connects
        name = channel(stream)
        confirmed: asyncio.Future[None] | None = None
        if verb == "subscribe":
            confirmed = self._confirming[name] = asyncio.get_running_loop().create_future()
        try:
            await getattr(pubsub, verb)(name)
            if confirmed is not None:
                await asyncio.wait_for(confirmed, timeout=2.0)
        except (RedisError, OSError, TimeoutError) as exc:
            log.warning("redis %s failed (%s); retried on reconnect", verb, type(exc).__name__)
        finally:
            if confirmed is not None and self._confirming.get(name) is confirmed:
                del self._confirming[name]

    async def _subscribe_all(self, pubsub: Any) -> None:
        """SUBSCRIBE to the control channel and every watched stream; return once Redis confirmed them all.

        Only then may the broker say it is connected and announce CATCH_UP: the hub reads the log when told
        to catch up, and a notice published after that read must reach us, so the subscription has to be in
        place first. Streams subscribed (or dropped) meanwhile are taken care of before returning. Bounded by
        ``confirm_timeout``: an outage raises TimeoutError and the reconnect loop retries.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.confirm_timeout
        asked: set[str] = set()
        confirmed: set[str] = set()
        while True:
            wanted = {CONTROL, *(channel(p) for p in self._streams)}
            if missing := wanted - asked:
                await pubsub.subscribe(*sorted(missing))
                asked |= missing
                continue
            if confirmed >= asked:
                if stale := asked - wanted:  # unsubscribed while we were connecting
                    await pubsub.unsubscribe(*sorted(stale))
                    asked -= stale
                    confirmed -= stale
                    continue
                return
            remaining = deadline - loop.time()
            if remaining <= 0:
                log.warning(
                    "redis did not confirm %d subscriptions in time; reconnecting", len(asked - confirmed)
                )
                raise TimeoutError
            message = await pubsub.get_message(timeout=min(remaining, 1.0))
            if message is None:
                continue
            name, kind = message.get("channel", ""), message.get("type")
            if kind == "subscribe":
                confirmed.add(name)
                if (waiter := self._confirming.get(name)) and not waiter.done():
                    waiter.set_result(None)
            elif kind == "message" and (stream := stream_of(name)) is not None:
                await self.deliver(stream, int(message["data"]))

    async def _run(self) -> None:
        """Listen; on any failure reconnect with backoff, resubscribe, and tell the hub to catch up."""
        assert self._client is not None
        backoff, first = BACKOFF_FIRST, True
        while not self._stopping:
            pubsub = self._client.pubsub()
            try:
                await self._subscribe_all(pubsub)
                # No await since the last check in _subscribe_all: every watched stream is confirmed, and a
                # subscribe() from now on goes through _send.
                self._pubsub = pubsub
                self.connected.set()
                if not first:
                    log.info("redis broker reconnected; catching up %d streams", len(self._streams))
                    metrics.broker_reconnected("redis")
                    await self.catch_up()
                first, backoff = False, BACKOFF_FIRST
                while not self._stopping:
                    message = await pubsub.get_message(timeout=5.0)
                    if message is None:
                        await pubsub.ping()  # a dead link raises here instead of hanging
                        continue
                    name, kind = message.get("channel", ""), message.get("type")
                    if kind == "message" and (stream := stream_of(name)) is not None:
                        await self.deliver(stream, int(message["data"]))
                    elif kind == "subscribe" and (waiter := self._confirming.get(name)) and not waiter.done():
                        waiter.set_result(None)
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError, ValueError, TimeoutError) as exc:
                if self.connected.is_set():
                    log.warning("redis broker lost (%s); reconnecting", type(exc).__name__)
            finally:
                self.connected.clear()
                self._pubsub = None
                with contextlib.suppress(Exception):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]
            first = False
            if self._stopping:
                return
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, BACKOFF_MAX)
