"""The realtime hub: one per process, between the broker and the sockets.

Fan-out, per plan: the broker says "plan P has events up to seq S"; under the plan's lock the hub reads the
events after its cursor ONCE, encodes each ONCE, and puts the same object on every viewer's bounded queue
with ``put_nowait``. Nothing is awaited per viewer and nothing is read per viewer, so one slow or dead socket
cannot slow the others: when its queue is full it is sent ``resync`` (best effort) and closed.

Each connection has one writer (:meth:`Connection.pump`, run by the endpoint) that drains its queue and
sends. The writer keeps, per subscription, the seq of the last event sent and drops anything at or below
it: with the replay that follows, that is how a viewer gets every event of a plan in seq order, with no gap
and no duplicate.

Subscribing with ``after``: the subscription is registered (live events are held aside) BEFORE the log is
read, so an event committed in between is in the read or in the held events, never in neither; the writer
then gets the replay and the held events as one item, and live events after it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, Final

from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from careteam.auth.sessions import live_session_ids
from careteam.codes import AuditAction
from careteam.domain import access, audit, events
from careteam.domain.actor import Actor
from careteam.domain.board import get_board, readable_plan
from careteam.domain.errors import NotFound
from careteam.realtime import protocol
from careteam.realtime.broker.base import Broker
from careteam.realtime.protocol import ErrorCode, EventFrame, ResyncReason
from careteam.settings import Settings
from careteam.store.engine import unit_of_work

log = logging.getLogger(__name__)

# A conference screen shows a handful of plans; a socket asking for more is a bug or abuse.
MAX_PLANS_PER_CONNECTION: Final = 100
# How long a connection being cut off gets to write its last frames (resync, close) before it is dropped.
GOODBYE_SECONDS: Final = 2.0

# What a fan-out puts on a queue: one event, or the events of one notice (the same tuple for every viewer).
Batch = EventFrame | tuple[EventFrame, ...]


@dataclass(eq=False, slots=True)
class Subscription:
    conn: Connection
    plan_id: int
    # The seq of the last event frame the writer sent on this subscription (or the snapshot's, or after).
    sent: int
    # The recheck round in which it was made; a round only judges subscriptions older than itself.
    epoch: int
    # Live batches that arrive while the replay is read; None once the replay is queued.
    held: list[Batch] | None = field(default_factory=list)
    # Set by the writer when it reaches the Start item; live batches queued before it belong to an older
    # subscription of the same plan on this socket and are dropped.
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
Send = Callable[[protocol.Message], Awaitable[None]]


class Connection:
    """One socket as the hub sees it: who, what it watches, and its bounded queue."""

    __slots__ = ("actor", "ending", "epoch", "queue", "subs", "writer")

    def __init__(self, actor: Actor, *, queue_size: int, epoch: int) -> None:
        self.actor = actor
        self.queue: asyncio.Queue[Outgoing] = asyncio.Queue(maxsize=queue_size)
        self.subs: dict[int, Subscription] = {}
        self.ending = False
        self.epoch = epoch
        self.writer: asyncio.Task[None] | None = None

    async def pump(self, send: Send, close: Callable[[int, str], Awaitable[None]]) -> None:
        """The connection's one writer: drain the queue in order and send; returns after a Close item.

        ``send`` takes an ASGI ``websocket.send`` message: event frames carry one, shared by every socket.
        """
        get, subs = self.queue.get, self.subs
        while True:
            item = await get()
            if type(item) is EventFrame:
                sub = subs.get(item.plan_id)
                if sub is not None and sub.started and item.seq > sub.sent:
                    sub.sent = item.seq
                    await send(item.message)
            elif type(item) is tuple:
                sub = subs.get(item[0].plan_id)
                if sub is not None and sub.started:
                    for frame in item:
                        if frame.seq > sub.sent:
                            sub.sent = frame.seq
                            await send(frame.message)
            elif type(item) is str:
                await send(protocol.message(item))
            elif type(item) is Start:
                await self._start(item, send)
            elif type(item) is Close:
                await close(item.code, item.reason)
                return

    async def _start(self, item: Start, send: Send) -> None:
        sub = item.sub
        if self.subs.get(sub.plan_id) is not sub:
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


class _Plan:
    """A plan with local viewers: its subscriptions, the last seq fanned out, and the fan-out lock."""

    __slots__ = ("cursor", "lock", "subs")

    def __init__(self, cursor: int) -> None:
        self.cursor = cursor
        self.lock = asyncio.Lock()
        self.subs: dict[Connection, Subscription] = {}


class Hub:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        broker: Broker,
        settings: Settings,
        *,
        read_sessions: async_sessionmaker[AsyncSession] | None = None,
    ) -> None:
        self._sessions = sessions
        # Log reads (fan-out, replay, re-check, sweep) write nothing: they may use lock-free connections.
        self._reads = read_sessions or sessions
        self._broker = broker
        self._settings = settings
        self._plans: dict[int, _Plan] = {}
        self._connections: set[Connection] = set()
        self._broker_plans: set[int] = set()
        self._broker_lock = asyncio.Lock()
        self._epoch = 0
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

    def connect(self, actor: Actor) -> Connection:
        conn = Connection(actor, queue_size=self._settings.ws_queue_size, epoch=self._epoch)
        self._connections.add(conn)
        return conn

    async def disconnect(self, conn: Connection) -> None:
        """Forget a socket and every one of its subscriptions."""
        conn.ending = True
        self._connections.discard(conn)
        emptied = [plan_id for sub in list(conn.subs.values()) if (plan_id := self._remove(sub)) is not None]
        for plan_id in emptied:
            await self._sync_broker(plan_id)

    def reply(self, conn: Connection, text: str) -> None:
        """Queue a control frame (pong, error) for one socket."""
        self._put(conn, text)

    async def subscribe(self, conn: Connection, plan_id: int, after: int | None) -> None:
        """Check access; send a snapshot (no ``after``) or the events after ``after``; then live events."""
        old = conn.subs.get(plan_id)
        if old is not None:
            # Subscribing again replaces the subscription: the new one starts from the new snapshot/after.
            if (emptied := self._remove(old)) is not None:
                await self._sync_broker(emptied)
        elif len(conn.subs) >= MAX_PLANS_PER_CONNECTION:
            self.reply(
                conn,
                protocol.error(
                    ErrorCode.too_many_subscriptions,
                    f"At most {MAX_PLANS_PER_CONNECTION} plans per connection.",
                    plan_id,
                ),
            )
            return
        reason: str | None = None
        try:
            async with unit_of_work(self._sessions) as session:
                if after is None:
                    board = await get_board(session, plan_id, actor=conn.actor)  # audits the read
                    start = last_seq = board.last_seq
                    prefix = protocol.snapshot(plan_id, start, board.model_dump(mode="json"))
                else:
                    plan = await readable_plan(session, plan_id, conn.actor)
                    audit.record(
                        session,
                        conn.actor,
                        AuditAction.read,
                        "care_plan",
                        plan_id,
                        patient_id=plan.patient_id,
                    )
                    start, last_seq = after, plan.last_seq
                    reason = await events.resync_reason(
                        session, plan_id, after, last_seq, self._settings.replay_window
                    )
                    prefix = protocol.subscribed(plan_id, last_seq)
        except NotFound:
            # The same answer for a plan that does not exist and one of another team's patients.
            self.reply(conn, protocol.error(ErrorCode.not_found, "No such care plan.", plan_id))
            return
        except Exception:
            log.exception("subscribe to plan %s failed", plan_id)
            self.reply(conn, protocol.error(ErrorCode.unavailable, "Could not subscribe.", plan_id))
            return
        if reason is not None:
            self.reply(conn, protocol.resync(plan_id, reason))
            return
        if conn.ending or plan_id in conn.subs:
            return  # closed, or subscribed again, while we were reading
        sub = self._add(conn, plan_id, start, last_seq)
        await self._sync_broker(plan_id)
        try:
            async with self._reads() as session:
                replay = [protocol.event_frame(e) for e in await events.read_after(session, plan_id, start)]
        except Exception:
            log.exception("replay of plan %s failed", plan_id)
            if (emptied := self._remove(sub)) is not None:
                await self._sync_broker(emptied)
            self.reply(conn, protocol.error(ErrorCode.unavailable, "Could not read the log.", plan_id))
            return
        if conn.subs.get(plan_id) is not sub or sub.held is None:
            return  # unsubscribed or cut off meanwhile
        # No await from here on: the held batches and the replay are queued together, and every later
        # live batch goes straight to the queue behind them.
        held, sub.held = sub.held, None
        self._put(conn, Start(sub, (prefix,), replay, held))

    async def unsubscribe(self, conn: Connection, plan_id: int) -> None:
        sub = conn.subs.get(plan_id)
        if sub is not None and (emptied := self._remove(sub)) is not None:
            await self._sync_broker(emptied)

    # --- Fan-out ----------------------------------------------------------------------------------

    async def on_notice(self, plan_id: int, seq: int) -> None:
        """The broker's wake-up call: plan ``plan_id`` has committed events up to ``seq``."""
        plan = self._plans.get(plan_id)
        if plan is None or seq <= plan.cursor:
            return
        async with plan.lock:
            limit = self._settings.replay_window
            while self._plans.get(plan_id) is plan and seq > plan.cursor:
                try:
                    async with self._reads() as session:
                        rows = await events.read_after(session, plan_id, plan.cursor, limit=limit)
                except Exception:
                    # The log is the truth and the next notice reads from the same cursor: nothing is lost.
                    log.exception("reading events of plan %s failed", plan_id)
                    return
                if not rows:
                    return
                frames = tuple(protocol.event_frame(e) for e in rows)
                plan.cursor = frames[-1].seq
                self._fan_out(plan, frames[0] if len(frames) == 1 else frames)
                if len(rows) < limit:
                    return

    def _fan_out(self, plan: _Plan, batch: Batch) -> None:
        # The hot loop: one put_nowait of the same object per viewer, nothing awaited, nothing encoded.
        full: list[Connection] | None = None
        for conn, sub in plan.subs.items():
            held = sub.held
            if held is None:
                try:
                    conn.queue.put_nowait(batch)
                except asyncio.QueueFull:
                    full = full or []
                    full.append(conn)
            else:
                # Still reading its replay: keep the batch aside (a reference to the shared object). Not
                # bounded by the queue size: the wait is our database's, not the client's.
                held.append(batch)
        if full:
            for conn in full:
                self._cut_off(conn)

    # --- Access re-check, heartbeats ------------------------------------------------------------------

    async def recheck(self) -> None:
        """Drop viewers taken off a plan's team; close sockets whose session ended or user was deactivated.

        One query per watched plan and one for all sessions, whatever the number of viewers.
        """
        if not self._connections:
            return
        self._epoch += 1
        epoch = self._epoch
        plan_ids = list(self._plans)
        session_ids = {c.actor.session_id for c in self._connections if c.actor.session_id}
        readers: dict[int, set[int]] = {}
        async with self._reads() as session:
            for plan_id in plan_ids:
                readers[plan_id] = {int(u) for u in await session.exec(access.plan_reader_ids(plan_id))}
            live = await live_session_ids(session, session_ids, settings=self._settings)
        for conn in list(self._connections):
            if conn.epoch < epoch and conn.actor.session_id not in live:
                self._end(conn, protocol.CLOSE_UNAUTHENTICATED, "session ended")
        emptied: list[int] = []
        for plan_id, users in readers.items():
            plan = self._plans.get(plan_id)
            if plan is None:
                continue
            gone = [s for s in plan.subs.values() if s.epoch < epoch and s.conn.actor.user_id not in users]
            for sub in gone:
                self.reply(
                    sub.conn,
                    protocol.error(
                        ErrorCode.forbidden, "You are no longer on this plan's care team.", plan_id
                    ),
                )
                if (pid := self._remove(sub)) is not None:
                    emptied.append(pid)
        for plan_id in emptied:
            await self._sync_broker(plan_id)

    async def sweep(self) -> None:
        """Fan out what the broker did not announce: one query for every watched plan's newest seq.

        A broker may drop a notice (an outage, a publish racing a subscription); the log does not. This
        bounds how long any viewer can stay behind to ``CARETEAM_WS_SWEEP_SECONDS``.
        """
        if not self._plans:
            return
        async with self._reads() as session:
            newest = await events.last_seqs(session, list(self._plans))
        for plan_id, seq in newest.items():
            plan = self._plans.get(plan_id)
            if plan is not None and seq > plan.cursor:
                log.info("plan %s: caught up to seq %s without a broker notice", plan_id, seq)
                await self.on_notice(plan_id, seq)

    def _heartbeat(self) -> None:
        # Only idle sockets need it: a socket with frames queued is not idle.
        for conn in self._connections:
            if conn.queue.empty():
                conn.queue.put_nowait(protocol.HEARTBEAT)

    async def _every(self, seconds: float, job: Callable[[], Coroutine[Any, Any, None] | None]) -> None:
        while True:
            await asyncio.sleep(seconds)
            try:
                result = job()
                if result is not None:
                    await result
            except Exception:
                log.exception("realtime hub: periodic %s failed", getattr(job, "__name__", job))

    # --- For tests and metrics ----------------------------------------------------------------------

    def viewers(self, plan_id: int) -> int:
        plan = self._plans.get(plan_id)
        return len(plan.subs) if plan else 0

    @property
    def connections(self) -> frozenset[Connection]:
        return frozenset(self._connections)

    # --- Internals ------------------------------------------------------------------------------------

    def _add(self, conn: Connection, plan_id: int, start: int, last_seq: int) -> Subscription:
        sub = Subscription(conn, plan_id, sent=start, epoch=self._epoch)
        plan = self._plans.get(plan_id)
        if plan is None:
            # Events up to last_seq are committed and this first viewer gets them from its replay read,
            # which runs after this registration; the fan-out starts after them.
            plan = self._plans[plan_id] = _Plan(cursor=last_seq)
        plan.subs[conn] = sub
        conn.subs[plan_id] = sub
        return sub

    def _remove(self, sub: Subscription) -> int | None:
        """Drop one subscription; returns the plan id if that was its last local viewer."""
        conn, plan_id = sub.conn, sub.plan_id
        if conn.subs.get(plan_id) is sub:
            del conn.subs[plan_id]
        sub.held = None
        plan = self._plans.get(plan_id)
        if plan is None or plan.subs.get(conn) is not sub:
            return None
        del plan.subs[conn]
        if plan.subs:
            return None
        del self._plans[plan_id]
        return plan_id

    async def _sync_broker(self, plan_id: int) -> None:
        """One broker subscription per plan with local viewers; serialised, so subscribe and unsubscribe
        of the same plan can never be applied out of order."""
        async with self._broker_lock:
            wanted, have = plan_id in self._plans, plan_id in self._broker_plans
            # Recorded before the await, and the call shielded: a socket cancelled meanwhile (its client left)
            # must not leave a broker subscription the hub no longer knows about.
            try:
                if wanted and not have:
                    self._broker_plans.add(plan_id)
                    await asyncio.shield(self._broker.subscribe(plan_id))
                elif have and not wanted:
                    self._broker_plans.discard(plan_id)
                    await asyncio.shield(self._broker.unsubscribe(plan_id))
            except Exception:
                log.exception("broker (un)subscribe of plan %s failed", plan_id)

    def _put(self, conn: Connection, item: Outgoing) -> None:
        if conn.ending:
            return
        try:
            conn.queue.put_nowait(item)
        except asyncio.QueueFull:
            self._cut_off(conn)

    def _cut_off(self, conn: Connection) -> None:
        """The slow-consumer policy: a socket whose queue is full gets resync and is closed."""
        if conn.ending:
            return
        plan_ids = list(conn.subs)
        log.info("closing a websocket of user %s: %s frames behind", conn.actor.user_id, conn.queue.qsize())
        resyncs = [protocol.resync(p, ResyncReason.too_slow) for p in plan_ids]
        self._end(conn, protocol.CLOSE_TOO_SLOW, "too slow", resyncs)

    def _end(self, conn: Connection, code: int, reason: str, last_words: list[str] | None = None) -> None:
        """Stop fanning out to a socket now; let its writer send its last frames and close, for a while."""
        if conn.ending:
            return
        conn.ending = True
        self._connections.discard(conn)
        emptied = [pid for sub in list(conn.subs.values()) if (pid := self._remove(sub)) is not None]
        for plan_id in emptied:
            self._spawn(self._sync_broker(plan_id))
        # What is queued is stale now: drop it, so the goodbye fits in the bounded queue.
        while not conn.queue.empty():
            conn.queue.get_nowait()
        for text in (last_words or [])[: max(0, conn.queue.maxsize - 1)]:
            conn.queue.put_nowait(text)
        conn.queue.put_nowait(Close(code, reason))
        # A writer stuck on a socket that does not read never reaches the Close item: stop it after a grace.
        writer = conn.writer
        if writer is not None and not writer.done():
            asyncio.get_running_loop().call_later(GOODBYE_SECONDS, writer.cancel)

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
