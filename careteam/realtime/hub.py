"""The realtime hub: one per process, between the broker and the sockets.

Fan-out, per stream (``plan:42``, ``user:12``): the broker says "stream S has events up to seq N"; under the
stream's lock the hub reads the events after its cursor ONCE, encodes each ONCE, and hands the same object
to every viewer. Nothing is awaited per viewer and nothing is read per viewer, so one slow or dead socket
cannot slow the others: when its bounded backlog is full it is sent ``resync`` (best effort) and closed.

Who may read a stream, and what a subscriber gets first, is the owning feature's ``Feed`` (``plans.feed``,
``accounts.feed``): the hub never reads a feature's tables. The feed audits the read; the hub decides
whether this one needs it: one audit row per session, stream and outcome within
``CARETEAM_WS_AUDIT_WINDOW_SECONDS`` (a client subscribing again and again, by reconnecting or flooding, is
one read), and it audits a refused subscribe itself (the stream key, and why: not found or forbidden).

An idle socket (nothing pending, the kernel taking bytes) is written to directly from the fan-out loop: the
frame's wire bytes, built once per event, go to its transport with no task wake-up and no await, as
``websockets.broadcast`` does. A socket with a backlog gets a writer task (:meth:`Connection._drain`) only
while it has one; it drains the bounded backlog in order through the ASGI ``send``, and when the backlog is
full the socket is cut off. Idle sockets cost no task at all.

Per subscription the hub keeps the seq of the last event sent and drops anything at or below it: with the
replay that follows, that is how a viewer gets every event of a stream in seq order, with no gap and no
duplicate.

Events committed by this process are handed over by the unit of work (:meth:`Hub.committed`), so the
fan-out of a local write reads nothing back; a notice the hand-over does not cover (another process's
write, a gap) is read from the log, which stays the truth.

Subscribing with ``after``: the subscription is registered (live events are held aside) BEFORE the log is
read, so an event committed in between is in the read or in the held events, never in neither; the writer
then gets the replay and the held events as one item, and live events after it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from dataclasses import dataclass, field
from typing import Any, Final

from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from careteam import metrics
from careteam.accounts.sessions import live_session_ids
from careteam.audit import service as audit
from careteam.audit.codes import AuditAction, AuditOutcome
from careteam.core.actor import Actor
from careteam.core.errors import NotFound
from careteam.db import outage
from careteam.db.engine import unit_of_work
from careteam.events import log as events
from careteam.events.streams import Feed, Stream
from careteam.events.tables import StreamEvent
from careteam.realtime import protocol
from careteam.realtime.broker.base import Broker
from careteam.realtime.protocol import ErrorCode, EventFrame, ResyncReason
from careteam.settings import Settings

log = logging.getLogger(__name__)

# A conference screen shows a handful of plans, a clinician her inbox too; more is a bug or abuse.
MAX_STREAMS_PER_CONNECTION: Final = 100
# How long a connection being cut off gets to write its last frames (resync, close) before it is dropped.
GOODBYE_SECONDS: Final = 2.0

# What a fan-out puts on a queue: one event, or the events of one notice (the same tuple for every viewer).
Batch = EventFrame | tuple[EventFrame, ...]


@dataclass(eq=False, slots=True)
class Subscription:
    conn: Connection
    stream: Stream
    # The seq of the last event frame the writer sent on this subscription (or the snapshot's, or after).
    sent: int
    # The recheck round in which it was made; a round only judges subscriptions older than itself.
    epoch: int
    # Live batches that arrive while the replay is read; None once the replay is queued.
    held: list[Batch] | None = field(default_factory=list)
    # Set by the writer when it reaches the Start item; live batches queued before it belong to an older
    # subscription of the same stream on this socket and are dropped.
    started: bool = False


@dataclass(eq=False, slots=True)
class Start:
    """The first item of a subscription: prefix frames (snapshot/subscribed), the replay, the held events."""

    sub: Subscription
    prefix: tuple[str, ...]
    replay: list[EventFrame]
    held: list[Batch]


@dataclass(frozen=True, slots=True)
class Close:
    code: int
    reason: str


Outgoing = str | EventFrame | tuple[EventFrame, ...] | Start | Close
# Whose read of which stream, and how it ended: the unit the hub audits once per window.
AuditKey = tuple[str, Stream, AuditOutcome]
Send = Callable[[protocol.Message], Awaitable[None]]
CloseSocket = Callable[[int, str], Awaitable[None]]
# Writes one or more whole frames (wire bytes) to an idle socket at once; False if the socket is not idle
# (the kernel's buffer is full, it is closing): the caller then queues instead. Never raises, never awaits.
DirectWrite = Callable[[bytes], bool]
# Writes these whole frames and a close frame (code, reason) past a full buffer, for a socket given up on;
# False if it is closing or closed already. Never raises, never awaits.
DirectClose = Callable[[bytes, int, str], bool]


class Connection:
    """One socket as the hub sees it: who, what it watches, its bounded backlog and how to write to it."""

    __slots__ = (
        "abandoned",
        "actor",
        "close",
        "close_now",
        "direct",
        "ending",
        "epoch",
        "farewell",
        "limit",
        "pending",
        "send",
        "stop",
        "subs",
        "writer",
    )

    def __init__(
        self,
        actor: Actor,
        *,
        send: Send,
        close: CloseSocket,
        direct: DirectWrite | None = None,
        close_now: DirectClose | None = None,
        stop: Callable[[], None] | None = None,
        queue_size: int,
        epoch: int,
    ) -> None:
        self.actor = actor
        self.send = send
        self.close = close
        self.direct = direct
        self.close_now = close_now
        # The close the hub decided on (goodbye) until the writer has sent it.
        self.farewell: Close | None = None
        # Called when the socket is done (closed by us, or given up on): makes the endpoint stop reading.
        self.stop = stop
        self.limit = queue_size
        # The backlog, made when there is one and dropped when the writer has drained it: an idle socket
        # keeps none (an empty deque is a 64-slot block, about 760 bytes).
        self.pending: deque[Outgoing] | None = None
        self.subs: dict[Stream, Subscription] = {}
        self.ending = False
        # Given up on after the goodbye grace while its writer was stuck (see give_up).
        self.abandoned = False
        self.epoch = epoch
        self.writer: asyncio.Task[None] | None = None

    @property
    def idle(self) -> bool:
        return self.writer is None and not self.pending

    def put(self, item: Outgoing) -> bool:
        """Send ``item`` after everything before it; False (nothing queued) if the backlog is full."""
        if (
            self.writer is None
            and not self.pending
            and self.direct is not None
            and type(item) is str
            and self.direct(protocol.wire(item.encode()))
        ):
            return True
        pending = self.pending
        if pending is None:
            pending = self.pending = deque()
        elif len(pending) >= self.limit:
            return False
        pending.append(item)
        if self.writer is None:
            self._spawn_writer()
        return True

    def deliver(self, sub: Subscription, batch: Batch, wire: bytes) -> bool:
        """A live batch for one subscription: written at once if the socket is idle, else queued.

        ``wire`` is the whole batch's frames, joined once for every viewer.
        """
        if self.writer is None and not self.pending and self.direct is not None and sub.started:
            if isinstance(batch, EventFrame):
                if batch.seq <= sub.sent:
                    return True
                if self.direct(wire):
                    sub.sent = batch.seq
                    return True
            else:
                if batch[0].seq > sub.sent:
                    written = self.direct(wire)
                else:  # replayed in part already: only the rest, in this viewer's own bytes
                    fresh = [f.wire for f in batch if f.seq > sub.sent]
                    written = not fresh or self.direct(b"".join(fresh))
                if written:
                    sub.sent = batch[-1].seq
                    return True
        return self.put(batch)

    @property
    def backlog(self) -> int:
        return len(self.pending) if self.pending else 0

    async def _drain(self) -> None:
        """The writer, while there is a backlog: send it in order; ends after a Close item or when empty."""
        pending, send = self.pending, self.send
        if pending is None:
            self.writer = None
            return
        try:
            while pending:
                item = pending.popleft()
                if type(item) is EventFrame:
                    sub = self.subs.get(item.stream)
                    if sub is not None and sub.started and item.seq > sub.sent:
                        sub.sent = item.seq
                        await send(item.message)
                elif type(item) is tuple:
                    sub = self.subs.get(item[0].stream)
                    if sub is not None and sub.started:
                        for frame in item:
                            if frame.seq > sub.sent:
                                sub.sent = frame.seq
                                await send(frame.message)
                elif type(item) is str:
                    await send(protocol.message(item))
                elif type(item) is Start:
                    await self._start(item)
                elif type(item) is Close:
                    pending.clear()
                    await self.close(item.code, item.reason)
                    self.farewell = None
                    self._stop()
                    return
        except Exception:
            # The socket went away under a send: nothing more can reach it. The endpoint sees the
            # disconnect (or is stopped here) and forgets the connection.
            self.ending = True
            pending.clear()
            self._stop()
        finally:
            self.writer = None
            if self.pending is pending and not pending:
                self.pending = None  # drained: the socket is idle again and keeps no deque

    def _spawn_writer(self) -> None:
        self.writer = writer = asyncio.create_task(self._drain())
        writer.add_done_callback(self._writer_done)

    def _writer_done(self, writer: asyncio.Task[None]) -> None:
        # Runs after the writer has finished, also one cancelled before it ever ran (its body, and so its
        # ``finally``, never ran then).
        if self.writer is writer:
            self.writer = None
        if self.abandoned:
            # Given up on while this writer was stuck: "stopped" is signalled only now that it is gone.
            self._stop()

    def _stop(self) -> None:
        if self.stop is not None:
            self.stop()

    def goodbye(self, last_words: list[str], close: Close) -> None:
        """Replace the backlog (stale now) with these frames and the close, sent in order by the writer."""
        pending = self.pending
        if pending is None:
            pending = self.pending = deque()
        else:
            pending.clear()
        pending.extend(last_words[: max(0, self.limit - 1)])
        pending.append(close)
        self.farewell = close
        if self.writer is None:
            self._spawn_writer()

    async def drop(self) -> None:
        """The socket is gone: stop writing to it; returns once its writer, if any, has finished."""
        if self.pending:
            self.pending.clear()
        writer = self.writer
        if writer is not None:
            writer.cancel()
            # Bounded: a send that swallowed the cancellation must not keep the handler from ending.
            await asyncio.wait((writer,), timeout=GOODBYE_SECONDS)

    def give_up(self) -> None:
        """After the goodbye grace: stop a writer stuck on a socket that does not read, then the endpoint.

        A close the writer could not send (the client stopped reading, the kernel's buffer is full) is
        written past the buffer, with the last words still pending, where the server allows it
        (``close_now``): a client that reads again gets them, then the close frame, instead of a dropped
        connection. The endpoint is stopped once the writer has finished (from the writer's own
        ``finally``), never while it is still cancelling: a connection reported stopped holds no writer.
        """
        farewell, self.farewell = self.farewell, None
        if farewell is not None and self.close_now is not None:
            words = b"".join(protocol.wire(item.encode()) for item in self.pending or () if type(item) is str)
            self.close_now(words, farewell.code, farewell.reason)
        if self.pending:
            self.pending.clear()
        if self.writer is None:
            self._stop()
            return
        self.abandoned = True
        self.writer.cancel()

    async def _start(self, item: Start) -> None:
        sub, send = item.sub, self.send
        if self.subs.get(sub.stream) is not sub:
            return  # unsubscribed before the writer got here
        sub.started = True
        for text in item.prefix:
            await send(protocol.message(text))
        for frame in item.replay:
            if frame.seq > sub.sent:
                sub.sent = frame.seq
                await send(frame.message)
        for batch in item.held:
            for frame in (batch,) if isinstance(batch, EventFrame) else batch:
                if frame.seq > sub.sent:
                    sub.sent = frame.seq
                    await send(frame.message)


class _Watched:
    """A stream with local viewers: its subscriptions, the last seq fanned out, and the fan-out lock."""

    __slots__ = ("cursor", "lock", "ready", "subs")

    def __init__(self, cursor: int) -> None:
        self.cursor = cursor
        self.lock = asyncio.Lock()
        self.subs: dict[Connection, Subscription] = {}
        # Frames of events this process committed, by seq, not yet fanned out (Hub.committed).
        self.ready: dict[int, EventFrame] = {}

    def take_ready(self, seq: int) -> tuple[EventFrame, ...]:
        """The handed-over frames that follow the cursor without a gap, up to ``seq``; forgets older ones."""
        ready, out, nxt = self.ready, [], self.cursor + 1
        while nxt <= seq and (frame := ready.pop(nxt, None)) is not None:
            out.append(frame)
            nxt += 1
        if ready:
            for old in [s for s in ready if s < nxt]:
                del ready[old]
        return tuple(out)


class Hub:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        broker: Broker,
        settings: Settings,
        *,
        read_sessions: async_sessionmaker[AsyncSession] | None = None,
        feeds: Iterable[Feed] = (),
    ) -> None:
        """``feeds``: who may read each kind of stream, and what a subscriber gets first (the features')."""
        self._sessions = sessions
        self._feeds: dict[str, Feed] = {feed.kind: feed for feed in feeds}
        # Log reads (fan-out, replay, re-check, sweep) write nothing: they may use lock-free connections.
        self._reads = read_sessions or sessions
        self._broker = broker
        self._settings = settings
        self._streams: dict[Stream, _Watched] = {}
        self._connections: set[Connection] = set()
        self._broker_streams: set[Stream] = set()
        self._broker_lock = asyncio.Lock()
        self._epoch = 0
        # When a (session, stream, outcome) read was last audited (time.monotonic()); pruned by recheck.
        self._audited: dict[AuditKey, float] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._loops: list[asyncio.Task[None]] = []

    # --- Lifecycle --------------------------------------------------------------------------------

    async def start(self) -> None:
        self._broker.set_handler(self.on_notice)
        self._loops = [
            asyncio.create_task(self._every(self._settings.ws_access_recheck_seconds, self.recheck)),
            asyncio.create_task(self._every(self._settings.ws_heartbeat_seconds, self._heartbeat)),
            asyncio.create_task(self._every(self._settings.ws_sweep_seconds, self.sweep)),
        ]

    async def stop(self) -> None:
        for conn in list(self._connections):
            self._end(conn, 1012, "server restarting")
        tasks = (*self._loops, *self._tasks)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._loops = []

    # --- What the endpoint calls ------------------------------------------------------------------

    def connect(
        self,
        actor: Actor,
        *,
        send: Send,
        close: CloseSocket,
        direct: DirectWrite | None = None,
        close_now: DirectClose | None = None,
        stop: Callable[[], None] | None = None,
    ) -> Connection:
        """Register an accepted socket: ``send``/``close`` are its ASGI calls, ``direct`` its fast path,
        ``close_now`` its close past a full buffer."""
        conn = Connection(
            actor,
            send=send,
            close=close,
            direct=direct,
            close_now=close_now,
            stop=stop,
            queue_size=self._settings.ws_queue_size,
            epoch=self._epoch,
        )
        self._connections.add(conn)
        metrics.socket_opened()
        return conn

    async def disconnect(self, conn: Connection) -> None:
        """Forget a socket and every one of its subscriptions; returns once nothing writes to it."""
        conn.ending = True
        self._connections.discard(conn)
        metrics.socket_closed()
        # Unsubscribed first, so no fan-out can start a new writer while the old one finishes.
        emptied = [stream for sub in list(conn.subs.values()) if (stream := self._remove(sub)) is not None]
        await conn.drop()
        for stream in emptied:
            await self._sync_broker(stream)

    def reply(self, conn: Connection, text: str) -> None:
        """Queue a control frame (pong, error) for one socket."""
        self._put(conn, text)

    async def subscribe(self, conn: Connection, stream: Stream, after: int | None) -> None:
        """Check access; send a snapshot (no ``after``) or the events after ``after``; then live events."""
        old = conn.subs.get(stream)
        if old is not None:
            # Subscribing again replaces the subscription: the new one starts from the new snapshot/after.
            if (emptied := self._remove(old)) is not None:
                await self._sync_broker(emptied)
        elif len(conn.subs) >= MAX_STREAMS_PER_CONNECTION:
            self.reply(
                conn,
                protocol.error(
                    ErrorCode.too_many_subscriptions,
                    f"At most {MAX_STREAMS_PER_CONNECTION} streams per connection.",
                    stream,
                ),
            )
            return
        feed = self._feeds.get(stream.kind)
        reason: str | None = None
        # Audited once per window: a read audited already runs on a read-only session and writes nothing
        # (on SQLite it does not queue for the write lock behind other users' writes).
        key: AuditKey = (_who(conn.actor), stream, AuditOutcome.success)
        audited = self._audit_due(key)
        try:
            if feed is None:
                raise NotFound(f"No {stream.kind} streams here.")
            async with unit_of_work(self._sessions) if audited else self._reads() as session:
                # The feature's own check and audit of the read (NotFound whatever the reason).
                opened = await feed.open(
                    session, stream.id, snapshot=after is None, audited=audited, actor=conn.actor
                )
                last_seq = opened.last_seq
                if after is None:
                    start = last_seq
                    if opened.snapshot is not None:
                        prefix = protocol.snapshot(stream, last_seq, opened.snapshot)
                    else:
                        prefix = protocol.subscribed(stream, last_seq)
                else:
                    start = after
                    reason = await events.resync_reason(
                        session, stream, after, last_seq, self._settings.replay_window
                    )
                    prefix = protocol.subscribed(stream, last_seq)
        except NotFound:
            # The same answer for a stream that does not exist and one the actor may not read.
            missing = feed.missing if feed is not None else f"No {stream.kind} streams here."
            self.reply(conn, protocol.error(ErrorCode.not_found, missing, stream))
            await self._audit_refusal(conn.actor, stream, feed)
            return
        except Exception as exc:
            outage.report(exc, log, "subscribe to %s failed", stream)
            self.reply(conn, protocol.error(ErrorCode.unavailable, "Could not subscribe.", stream))
            return
        if audited:
            self._audited[key] = time.monotonic()  # committed: only now is the read on record
        if reason is not None:
            metrics.resyncs(reason)
            self.reply(conn, protocol.resync(stream, reason))
            return
        if conn.ending or stream in conn.subs:
            return  # closed, or subscribed again, while we were reading
        sub = self._add(conn, stream, start, last_seq)
        await self._sync_broker(stream)
        try:
            async with self._reads() as session:
                replay = [protocol.event_frame(e) for e in await events.read_after(session, stream, start)]
        except Exception as exc:
            outage.report(exc, log, "replay of %s failed", stream)
            if (emptied := self._remove(sub)) is not None:
                await self._sync_broker(emptied)
            self.reply(conn, protocol.error(ErrorCode.unavailable, "Could not read the log.", stream))
            return
        if conn.subs.get(stream) is not sub or sub.held is None:
            return  # unsubscribed or cut off meanwhile
        # No await from here on: the held batches and the replay are queued together, and every later
        # live batch goes behind them (a socket with a Start pending is not idle: nothing overtakes it).
        held, sub.held = sub.held, None
        self._put(conn, Start(sub, (prefix,), replay, held))

    def too_many_frames(self, conn: Connection) -> None:
        """The client sent more frames than the window allows: an error frame, then close 1008."""
        settings = self._settings
        log.info("closing a websocket of user %s: too many frames", conn.actor.user_id)
        detail = (
            f"More than {settings.ws_max_client_frames} frames in {settings.ws_client_frames_seconds:g} s;"
            " the connection is closed."
        )
        self._end(
            conn,
            protocol.CLOSE_TOO_MANY_FRAMES,
            "too many frames",
            [protocol.error(ErrorCode.rate_limited, detail)],
        )

    async def unsubscribe(self, conn: Connection, stream: Stream) -> None:
        sub = conn.subs.get(stream)
        if sub is not None and (emptied := self._remove(sub)) is not None:
            await self._sync_broker(emptied)

    def _audit_due(self, key: AuditKey) -> bool:
        """Whether this read must be audited: not audited for the same session within the window."""
        last = self._audited.get(key)
        return last is None or time.monotonic() - last >= self._settings.ws_audit_window_seconds

    async def _audit_refusal(self, actor: Actor, stream: Stream, feed: Feed | None) -> None:
        """Audit a refused subscribe (who, the stream key, and why), once per session, stream and reason per
        window. The client was told ``not_found`` either way; only the audit says which it was."""
        try:
            if feed is None:
                outcome = AuditOutcome.not_found
            else:
                async with self._reads() as session:
                    exists = await feed.exists(session, stream.id)
                outcome = AuditOutcome.forbidden if exists else AuditOutcome.not_found
            key: AuditKey = (_who(actor), stream, outcome)
            if not self._audit_due(key):
                return
            async with unit_of_work(self._sessions) as session:
                audit.record(session, actor, AuditAction.read, "stream", str(stream), outcome=outcome)
            self._audited[key] = time.monotonic()
        except Exception as exc:
            outage.report(exc, log, "auditing a refused subscribe to %s failed", stream)

    def _forget_audits(self) -> None:
        """Drop the audit window's entries that have run out (the dict stays as small as the window)."""
        horizon = time.monotonic() - self._settings.ws_audit_window_seconds
        for key in [k for k, at in self._audited.items() if at < horizon]:
            del self._audited[key]

    # --- Fan-out ----------------------------------------------------------------------------------

    async def on_notice(self, stream: Stream, seq: int) -> None:
        """The broker's wake-up call: ``stream`` has committed events up to ``seq``."""
        watched = self._streams.get(stream)
        if watched is None or seq <= watched.cursor:
            return
        async with watched.lock:
            limit = self._settings.replay_window
            while self._streams.get(stream) is watched and seq > watched.cursor:
                handed = watched.take_ready(seq)
                if handed:
                    # Committed by this process and handed over: nothing to read back.
                    watched.cursor = handed[-1].seq
                    self._fan_out(watched, handed[0] if len(handed) == 1 else handed)
                    continue
                try:
                    async with self._reads() as session:
                        rows = await events.read_after(session, stream, watched.cursor, limit=limit)
                except Exception as exc:
                    # The log is the truth and the next notice reads from the same cursor: nothing is lost.
                    outage.report(exc, log, "reading events of %s failed", stream)
                    return
                if not rows:
                    return
                frames = tuple(protocol.event_frame(e) for e in rows)
                watched.cursor = frames[-1].seq
                self._fan_out(watched, frames[0] if len(frames) == 1 else frames)
                if len(rows) < limit:
                    return

    def committed(self, rows: Iterable[StreamEvent]) -> None:
        """Events this process has just committed (the unit of work hands them over before it publishes).

        Encoded now, once, and kept for the notice that follows, so the fan-out of a local write reads
        nothing back. Only plans with local viewers keep them, at most a replay window's worth. Never raises:
        the write has committed, and the log can always be read instead.
        """
        try:
            window = self._settings.replay_window
            for row in rows:
                watched = self._streams.get(row.stream)
                if watched is not None and row.seq > watched.cursor and len(watched.ready) < window:
                    watched.ready[row.seq] = protocol.event_frame(row)
        except Exception:
            log.exception("handing committed events to the hub failed; they will be read from the log")

    def _fan_out(self, watched: _Watched, batch: Batch) -> None:
        # The hot loop: the same bytes written to every idle socket, the same object queued for the others;
        # nothing awaited, nothing encoded per viewer.
        full: list[Connection] | None = None
        wire = batch.wire if isinstance(batch, EventFrame) else b"".join([f.wire for f in batch])
        for conn, sub in watched.subs.items():
            held = sub.held
            if held is None:
                if not conn.deliver(sub, batch, wire):
                    full = full or []
                    full.append(conn)
            else:
                # Still reading its replay: keep the batch aside (a reference to the shared object). Not
                # bounded by the queue size: the wait is our database's, not the client's.
                held.append(batch)
        if full:
            for conn in full:
                self._cut_off(conn)
        # Once per batch, never per viewer: from its oldest event's recording to every viewer served.
        metrics.fanned_out(time.time() - (batch.at if isinstance(batch, EventFrame) else batch[0].at))

    # --- Access re-check, heartbeats ------------------------------------------------------------------

    async def recheck(self) -> None:
        """Drop viewers who may no longer read a stream (taken off a plan's team, say); close sockets whose
        session ended or user was deactivated.

        One query per kind of stream and ``RECHECK_BATCH`` watched streams (``Feed.readers``: one select with
        an IN over them) and one for all sessions, whatever the number of viewers: a process watching 200
        plans makes 2 round trips a round, not 201, and builds two small statements, not a subquery per
        plan (whose objects, cyclic garbage, made the collector's full passes stall the loop for hundreds of
        milliseconds under the clinic bench's load).
        """
        self._forget_audits()
        if not self._connections:
            return
        self._epoch += 1
        epoch = self._epoch
        watched_streams = [s for s in self._streams if s.kind in self._feeds]
        session_ids = {c.actor.session_id for c in self._connections if c.actor.session_id}
        readers: dict[Stream, set[int]] = {stream: set() for stream in watched_streams}
        async with self._reads() as session:
            db = await session.connection()
            for kind, ids in _by_kind(watched_streams).items():
                for start in range(0, len(ids), RECHECK_BATCH):
                    query = self._feeds[kind].readers(ids[start : start + RECHECK_BATCH])
                    for stream_id, user_id in await db.execute(query):
                        readers[Stream(kind, int(stream_id))].add(int(user_id))
            live = await live_session_ids(session, session_ids, settings=self._settings)
        for conn in list(self._connections):
            if conn.epoch < epoch and conn.actor.session_id not in live:
                self._end(conn, protocol.CLOSE_UNAUTHENTICATED, "session ended")
        emptied: list[Stream] = []
        for stream, users in readers.items():
            watched = self._streams.get(stream)
            if watched is None:
                continue
            gone = [s for s in watched.subs.values() if s.epoch < epoch and s.conn.actor.user_id not in users]
            for sub in gone:
                self.reply(
                    sub.conn,
                    protocol.error(ErrorCode.forbidden, self._feeds[stream.kind].gone, stream),
                )
                if (removed := self._remove(sub)) is not None:
                    emptied.append(removed)
        for stream in emptied:
            await self._sync_broker(stream)

    async def sweep(self) -> None:
        """Fan out what the broker did not announce: one query for every watched plan's newest seq.

        A broker may drop a notice (an outage, a publish racing a subscription); the log does not. This
        bounds how long any viewer can stay behind to ``CARETEAM_WS_SWEEP_SECONDS``.
        """
        if not self._streams:
            return
        async with self._reads() as session:
            newest = await events.last_seqs(session, list(self._streams))
        for stream, seq in newest.items():
            watched = self._streams.get(stream)
            if watched is not None and seq > watched.cursor:
                log.info("%s: caught up to seq %s without a broker notice", stream, seq)
                await self.on_notice(stream, seq)

    def _heartbeat(self) -> None:
        # Only idle sockets need it: a socket with frames queued is not idle.
        for conn in self._connections:
            if conn.idle:
                conn.put(protocol.HEARTBEAT)

    async def _every(self, seconds: float, job: Callable[[], Coroutine[Any, Any, None] | None]) -> None:
        while True:
            await asyncio.sleep(seconds)
            try:
                result = job()
                if result is not None:
                    await result
            except Exception as exc:
                outage.report(exc, log, "realtime hub: periodic %s failed", getattr(job, "__name__", job))

    # --- For tests and metrics ----------------------------------------------------------------------

    def viewers(self, stream: Stream) -> int:
        watched = self._streams.get(stream)
        return len(watched.subs) if watched else 0

    @property
    def connections(self) -> frozenset[Connection]:
        return frozenset(self._connections)

    # --- Internals ------------------------------------------------------------------------------------

    def _add(self, conn: Connection, stream: Stream, start: int, last_seq: int) -> Subscription:
        sub = Subscription(conn, stream, sent=start, epoch=self._epoch)
        watched = self._streams.get(stream)
        if watched is None:
            # Events up to last_seq are committed and this first viewer gets them from its replay read,
            # which runs after this registration; the fan-out starts after them.
            watched = self._streams[stream] = _Watched(cursor=last_seq)
        watched.subs[conn] = sub
        conn.subs[stream] = sub
        metrics.subscribed(stream.kind)
        return sub

    def _remove(self, sub: Subscription) -> Stream | None:
        """Drop one subscription; returns its stream if that was its last local viewer."""
        conn, stream = sub.conn, sub.stream
        if conn.subs.get(stream) is sub:
            del conn.subs[stream]
        sub.held = None
        watched = self._streams.get(stream)
        if watched is None or watched.subs.get(conn) is not sub:
            return None
        del watched.subs[conn]
        metrics.unsubscribed(stream.kind)
        if watched.subs:
            return None
        del self._streams[stream]
        return stream

    async def _sync_broker(self, stream: Stream) -> None:
        """One broker subscription per stream with local viewers; serialised, so subscribe and unsubscribe
        of the same stream can never be applied out of order."""
        async with self._broker_lock:
            wanted, have = stream in self._streams, stream in self._broker_streams
            # Recorded before the await, and the call shielded: a socket cancelled meanwhile (its client left)
            # must not leave a broker subscription the hub no longer knows about.
            try:
                if wanted and not have:
                    self._broker_streams.add(stream)
                    await asyncio.shield(self._broker.subscribe(stream))
                elif have and not wanted:
                    self._broker_streams.discard(stream)
                    await asyncio.shield(self._broker.unsubscribe(stream))
            except Exception:
                log.exception("broker (un)subscribe of %s failed", stream)

    def _put(self, conn: Connection, item: Outgoing) -> None:
        if conn.ending:
            return
        if not conn.put(item):
            self._cut_off(conn)

    def _cut_off(self, conn: Connection) -> None:
        """The slow-consumer policy: a socket whose queue is full gets resync and is closed."""
        if conn.ending:
            return
        streams = list(conn.subs)
        log.info("closing a websocket of user %s: %s frames behind", conn.actor.user_id, conn.backlog)
        metrics.cut_off(ResyncReason.too_slow)
        metrics.resyncs(ResyncReason.too_slow, len(streams))
        resyncs = [protocol.resync(p, ResyncReason.too_slow) for p in streams]
        self._end(conn, protocol.CLOSE_TOO_SLOW, "too slow", resyncs)

    def _end(self, conn: Connection, code: int, reason: str, last_words: list[str] | None = None) -> None:
        """Stop fanning out to a socket now; let its writer send its last frames and close, for a while."""
        if conn.ending:
            return
        conn.ending = True
        self._connections.discard(conn)
        emptied = [st for sub in list(conn.subs.values()) if (st := self._remove(sub)) is not None]
        for stream in emptied:
            self._spawn(self._sync_broker(stream))
        conn.goodbye(last_words or [], Close(code, reason))
        # A writer stuck on a socket that does not read never reaches the Close item: give up after a grace.
        asyncio.get_running_loop().call_later(GOODBYE_SECONDS, conn.give_up)

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


def _who(actor: Actor) -> str:
    """The audit window's unit: the actor's session (a browser session or a bearer token)."""
    return actor.session_id or f"user:{actor.user_id}"


# Streams whose readers one re-check statement asks for (``Feed.readers``: an IN of as many bound values).
RECHECK_BATCH: Final = 500


def _by_kind(streams: Iterable[Stream]) -> dict[str, list[int]]:
    kinds: dict[str, list[int]] = {}
    for stream in streams:
        kinds.setdefault(stream.kind, []).append(stream.id)
    return kinds
