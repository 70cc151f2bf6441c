"""PostgreSQL LISTEN/NOTIFY: notices between processes with nothing but the database.

Channel ``careteam_<kind>_<id>`` for stream ``<kind>:<id>`` (``careteam_plan_42``), payload the seq (NOTIFY
payloads are capped at 8000 bytes, so never the event itself). Notices are sent after commit from a
connection of their own, in autocommit: a NOTIFY inside the write's transaction would take PostgreSQL's
global notify lock at commit and serialise every writer.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable
from typing import Any

import asyncpg

from careteam import metrics
from careteam.events.streams import Stream
from careteam.realtime.broker.base import BACKOFF_FIRST, BACKOFF_MAX, Broker, latest

log = logging.getLogger(__name__)

PREFIX = "careteam_"
# Shown in pg_stat_activity, so operators (and tests) can tell the listening connections apart.
LISTENER_NAME = "careteam-listen"
_FAILURES = (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, asyncio.TimeoutError)


def channel(stream: Stream) -> str:
    return f"{PREFIX}{stream.kind}_{stream.id}"


def stream_of(name: str) -> Stream | None:
    kind, _, stream_id = name.removeprefix(PREFIX).partition("_")
    try:
        return Stream.parse(f"{kind}:{stream_id}")
    except ValueError:
        return None


def dsn(url: str) -> str:
    """asyncpg wants ``postgresql://``; accept the SQLAlchemy spelling too."""
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


class PostgresBroker(Broker):
    def __init__(self, url: str) -> None:
        super().__init__()
        self._dsn = dsn(url)
        self._listener: asyncpg.Connection | None = None
        self._publisher: asyncpg.Connection | None = None
        self._publish_lock = asyncio.Lock()
        self._reader: asyncio.Task[None] | None = None
        self._deliveries: set[asyncio.Task[None]] = set()
        self.connected = asyncio.Event()
        self._stopping = False

    async def start(self) -> None:
        self._reader = asyncio.create_task(self._run(), name="careteam-pg-broker")

    async def stop(self) -> None:
        # A flag as well as cancel(): a client library that swallows CancelledError must not keep us looping.
        self._stopping = True
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        for conn in (self._listener, self._publisher):
            if conn is not None:
                with contextlib.suppress(Exception):
                    await conn.close(timeout=1)

    @property
    def reachable(self) -> bool:
        return self.connected.is_set()

    async def publish_many(self, notices: Iterable[tuple[Stream, int]]) -> None:
        if not self.connected.is_set():
            return  # down: listeners catch up from the log when the link is back
        pairs = [(channel(p), str(s)) for p, s in latest(notices).items()]
        async with self._publish_lock:  # one asyncpg connection runs one statement at a time
            try:
                if self._publisher is None or self._publisher.is_closed():
                    self._publisher = await asyncpg.connect(self._dsn, timeout=2)
                await self._publisher.executemany("SELECT pg_notify($1, $2)", pairs)
            except _FAILURES as exc:
                log.warning(
                    "NOTIFY failed (%s); viewers will catch up from the event log", type(exc).__name__
                )
                self._publisher = None

    async def subscribe(self, stream: Stream) -> None:
        self._streams.add(stream)
        conn = self._listener
        if conn is not None and not conn.is_closed():
            try:
                await conn.add_listener(channel(stream), self._on_notify)
            except _FAILURES as exc:
                log.warning("LISTEN failed (%s); retried on reconnect", type(exc).__name__)

    async def unsubscribe(self, stream: Stream) -> None:
        self._streams.discard(stream)
        conn = self._listener
        if conn is not None and not conn.is_closed():
            try:
                await conn.remove_listener(channel(stream), self._on_notify)
            except _FAILURES as exc:
                log.warning("UNLISTEN failed (%s)", type(exc).__name__)

    def _on_notify(self, _conn: Any, _pid: int, name: str, payload: str) -> None:
        stream = stream_of(name)
        try:
            seq = int(payload)
        except ValueError:
            return
        if stream is None:
            return
        # asyncpg calls listeners synchronously; the hub's handler is async.
        task = asyncio.get_running_loop().create_task(self.deliver(stream, seq))
        self._deliveries.add(task)
        task.add_done_callback(self._deliveries.discard)

    async def _run(self) -> None:
        """Hold the LISTEN connection; on loss reconnect with backoff, re-LISTEN, tell the hub to catch up."""
        backoff, first = BACKOFF_FIRST, True
        while not self._stopping:
            lost = asyncio.Event()
            try:
                conn = await asyncpg.connect(
                    self._dsn, timeout=2, server_settings={"application_name": LISTENER_NAME}
                )
                conn.add_termination_listener(lambda _c, lost=lost: lost.set())
                # Each LISTEN has run once add_listener returns, so CATCH_UP below comes after the
                # subscriptions are in place. Streams subscribed while we were at it are listened to as well:
                # subscribe() cannot until self._listener is set, and there is no await from the last check.
                listening: set[Stream] = set()
                while missing := self._streams - listening:
                    for stream in missing:
                        await conn.add_listener(channel(stream), self._on_notify)
                    listening |= missing
                self._listener = conn
                self.connected.set()
                if not first:
                    log.info("NOTIFY broker reconnected; catching up %d streams", len(self._streams))
                    metrics.broker_reconnected("postgres")
                    await self.catch_up()
                first, backoff = False, BACKOFF_FIRST
                while not lost.is_set() and not self._stopping:
                    with contextlib.suppress(asyncio.TimeoutError):
                        await asyncio.wait_for(lost.wait(), timeout=5.0)
                    if not lost.is_set():
                        await conn.fetchval("SELECT 1", timeout=3)  # a dead link raises here
            except asyncio.CancelledError:
                raise
            except _FAILURES as exc:
                if self.connected.is_set():
                    log.warning("NOTIFY broker lost (%s); reconnecting", type(exc).__name__)
            finally:
                self.connected.clear()
                listener, self._listener = self._listener, None
                if listener is not None:
                    with contextlib.suppress(Exception):
                        await listener.close(timeout=1)
            first = False
            if self._stopping:
                return
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, BACKOFF_MAX)
