"""The hub without sockets: each connection's ASGI send and close, and its direct path, record into lists.

What the fan-out promises: one broker subscription and one log read per plan whatever the number of viewers,
the same encoded frame for every socket (through its ASGI send or written directly), bounded backlogs with a
slow consumer cut off alone, replay plus live events with no gap and no duplicate, and access re-checked while
connected.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import orjson
import pytest
from sqlalchemy import delete
from sqlmodel import col, select

from careteam.accounts import service as accounts
from careteam.app import FEEDS
from careteam.audit.tables import AuditEntry
from careteam.core.actor import Actor
from careteam.events import log as events
from careteam.events import streams
from careteam.events.streams import Stream
from careteam.events.tables import StreamEvent
from careteam.patients.tables import CareTeamMember, Patient
from careteam.plans.tables import CarePlan
from careteam.realtime import hub as hub_module
from careteam.realtime import protocol
from careteam.realtime.broker.memory import MemoryBroker
from careteam.realtime.hub import RECHECK_BATCH, Close, Connection, Hub
from careteam.settings import Settings
from tests.factories import emit, make_plan, of_plan, statements
from tests.realtime.conftest import Team, bearer

# The log reader itself, kept before any test counts its calls.
read_after_unpatched = events.read_after


class SpyBroker(MemoryBroker):
    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[str, Stream]] = []

    async def subscribe(self, stream: Stream) -> None:
        self.calls.append(("subscribe", stream))
        await super().subscribe(stream)

    async def unsubscribe(self, stream: Stream) -> None:
        self.calls.append(("unsubscribe", stream))
        await super().unsubscribe(stream)


def unframe(data: bytes) -> list[bytes]:
    """The payloads of server-to-client websocket frames (unmasked, unfragmented), back to back."""
    out = []
    while data:
        assert data[0] == 0x81, "a final text frame"
        size, at = data[1], 2
        if size == 126:
            size, at = int.from_bytes(data[2:4]), 4
        elif size == 127:
            size, at = int.from_bytes(data[2:10]), 10
        out.append(data[at : at + size])
        data = data[at + size :]
    return out


class Sink:
    """One socket for the hub: what its ASGI ``send`` and its direct path got, decoded into ``frames``.

    ``direct``: offer the hub the direct path (as uvicorn's sockets do). A closed ``gate`` is a socket
    that does not read: sends wait at it, and the direct path refuses.
    """

    def __init__(self, hub: Hub, actor: Actor, *, direct: bool = False, gate_open: bool = True) -> None:
        self.frames: list[dict[str, Any]] = []
        self.messages: list[dict[str, Any]] = []  # what went through the ASGI send
        self.wires: list[bytes] = []  # what went through the direct path
        self.closed: int | None = None
        self.stopped = False
        self.writer_when_stopped: asyncio.Task[None] | None = None
        self.gate = asyncio.Event()
        if gate_open:
            self.gate.set()
        self.conn = hub.connect(
            actor,
            send=self._send,
            close=self._close,
            direct=self._direct if direct else None,
            stop=self._stop,
        )

    async def _send(self, message: dict[str, Any]) -> None:
        await self.gate.wait()
        self.messages.append(message)
        self.frames.append(orjson.loads(message["text"]))

    def _direct(self, data: bytes) -> bool:
        if not self.gate.is_set():
            return False
        self.wires.append(data)
        self.frames.extend(orjson.loads(payload) for payload in unframe(data))
        return True

    async def _close(self, code: int, reason: str) -> None:
        self.closed = code

    def _stop(self) -> None:
        self.stopped = True
        # What a handler stopped by the hub would find: the connection's writer, which must be gone by now.
        self.writer_when_stopped = self.conn.writer

    def events(self) -> list[int]:
        return [f["seq"] for f in self.frames if f["type"] == "event"]

    async def wait(self, predicate: Callable[[Sink], bool], within: float = 5.0) -> None:
        deadline = time.monotonic() + within
        while not predicate(self):
            assert time.monotonic() < deadline, f"timed out; got {self.frames[-3:]}"
            await asyncio.sleep(0.01)


@pytest.fixture
async def hub(app: Any, settings: Settings) -> AsyncIterator[tuple[Hub, SpyBroker]]:
    # The periodic jobs are run by hand here, so they never interleave with what a test inspects.
    quiet = settings.model_copy(update={"ws_heartbeat_seconds": 3600, "ws_access_recheck_seconds": 3600})
    broker = SpyBroker()
    hub = Hub(app.state.sessions, broker, quiet, feeds=FEEDS)
    await hub.start()
    yield hub, broker
    await hub.stop()


@pytest.fixture
async def actors(app: Any, db: Any, team: Team) -> dict[str, Actor]:
    return {
        "nurse": (await bearer(app, db, team.nurse))[1],
        "therapist": (await bearer(app, db, team.therapist))[1],
        "outsider": (await bearer(app, db, team.outsider))[1],
    }


async def _produce(db: Any, broker: MemoryBroker, plan_id: int, count: int = 1) -> int:
    """Commit ``count`` events, then announce them on this hub's broker as the unit of work does."""
    async with db() as session:
        last = await emit(session, plan_id, count)
    await broker.publish_many([(streams.plan(plan_id), last)])
    await broker.delivered()
    return last


def _count_log_reads(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """From now on, the plan id of every read of the log, in order."""
    reads: list[int] = []

    async def counting(*args: Any, **kwargs: Any) -> list[StreamEvent]:
        reads.append(args[1].id)
        return await read_after_unpatched(*args, **kwargs)

    monkeypatch.setattr(events, "read_after", counting)
    return reads


def _pending(conn: Connection) -> list[Any]:
    return list(conn.pending or ())


async def test_one_broker_subscription_per_plan_whatever_the_viewers(
    hub: tuple[Hub, SpyBroker], actors: dict[str, Actor], team: Team
) -> None:
    h, broker = hub
    conns = [Sink(h, actors["nurse"]).conn for _ in range(3)] + [Sink(h, actors["therapist"]).conn]
    for conn in conns:
        await h.subscribe(conn, streams.plan(team.plan_id), 0)
    assert h.viewers(streams.plan(team.plan_id)) == 4
    assert broker.calls == [("subscribe", streams.plan(team.plan_id))]
    for conn in conns[:3]:
        await h.disconnect(conn)
    assert broker.calls == [("subscribe", streams.plan(team.plan_id))]
    await h.unsubscribe(conns[3], streams.plan(team.plan_id))
    plan = streams.plan(team.plan_id)
    assert broker.calls == [("subscribe", plan), ("unsubscribe", plan)]
    assert h.viewers(streams.plan(team.plan_id)) == 0 and broker.streams == frozenset()


@pytest.mark.parametrize("direct", [False, True], ids=["asgi-send", "direct"])
async def test_fan_out_reads_the_log_once_and_sends_the_same_frame_to_everyone(
    hub: tuple[Hub, SpyBroker],
    actors: dict[str, Actor],
    team: Team,
    db: Any,
    monkeypatch: pytest.MonkeyPatch,
    direct: bool,
) -> None:
    h, broker = hub
    sinks = [Sink(h, actors["nurse"], direct=direct) for _ in range(50)]
    for sink in sinks:
        await h.subscribe(sink.conn, streams.plan(team.plan_id), 0)
        await sink.wait(lambda s: len(s.frames) == 1)
    reads = _count_log_reads(monkeypatch)
    await _produce(db, broker, team.plan_id, 3)  # one notice for three events
    await _produce(db, broker, team.plan_id, 1)
    assert reads == [team.plan_id, team.plan_id]
    for sink in sinks:
        await sink.wait(lambda s: len(s.events()) == 4)
        assert sink.events() == [1, 2, 3, 4]
    # Encoded once: every socket got the very same objects, down to the ASGI message or the wire bytes.
    if direct:
        first = sinks[0].wires
        assert len(first) == 2 and [len(unframe(w)) for w in first] == [3, 1]
        assert all(s.wires[0] is first[0] and s.wires[1] is first[1] for s in sinks)
        assert all(not s.messages[1:] for s in sinks)  # only the "subscribed" frame went through send
    else:
        first = sinks[0].messages[1:]  # after each socket's own "subscribed"
        assert len(first) == 4
        assert all(all(a is b for a, b in zip(s.messages[1:], first, strict=True)) for s in sinks[1:])
        assert all(s.conn.writer is None for s in sinks)  # no task is left once the backlog is sent


async def test_a_full_backlog_cuts_that_viewer_off_alone(
    hub: tuple[Hub, SpyBroker], actors: dict[str, Actor], team: Team, db: Any, settings: Settings
) -> None:
    h, broker = hub
    sink = Sink(h, actors["nurse"], direct=True)
    stuck = Sink(h, actors["therapist"], direct=True, gate_open=False)  # reads nothing
    fast, slow = sink.conn, stuck.conn
    await h.subscribe(fast, streams.plan(team.plan_id), 0)
    await h.subscribe(slow, streams.plan(team.plan_id), 0)
    largest = 0
    for _ in range(settings.ws_queue_size + 5):
        await _produce(db, broker, team.plan_id)
        largest = max(largest, slow.backlog)
    assert largest <= settings.ws_queue_size
    assert slow.ending and h.viewers(streams.plan(team.plan_id)) == 1 and slow not in h.connections
    # What is left for its writer: resync for each plan, then close "try again later".
    assert _pending(slow) == [
        orjson.dumps(
            {
                "type": "resync",
                "stream": f"plan:{team.plan_id}",
                "plan_id": team.plan_id,
                "reason": "too_slow",
            }
        ).decode(),
        Close(1013, "too slow"),
    ]
    total = settings.ws_queue_size + 5
    await sink.wait(lambda s: len(s.events()) == total)
    assert sink.events() == list(range(1, total + 1))
    # It never reads: after the goodbye grace the hub gives up on it and stops its endpoint.
    await stuck.wait(lambda s: s.stopped, within=hub_module.GOODBYE_SECONDS + 3)
    assert stuck.writer_when_stopped is None and slow.writer is None
    assert not slow.pending and stuck.closed is None


async def test_a_connection_given_up_on_is_stopped_only_once_its_writer_has_finished(
    hub: tuple[Hub, SpyBroker], actors: dict[str, Actor], team: Team
) -> None:
    h, _ = hub
    stuck = Sink(h, actors["therapist"], gate_open=False)  # reads nothing: its writer waits at the gate
    await h.subscribe(stuck.conn, streams.plan(team.plan_id), 0)
    writer = stuck.conn.writer
    assert writer is not None and not writer.done()
    stuck.conn.give_up()
    # Not stopped while the writer is still cancelling; stopped right after it has finished.
    assert not stuck.stopped
    await asyncio.wait((writer,))
    await stuck.wait(lambda s: s.stopped)
    assert stuck.writer_when_stopped is None and writer.cancelled()


async def test_a_disconnected_connection_has_no_writer_left(
    hub: tuple[Hub, SpyBroker], actors: dict[str, Actor], team: Team, db: Any
) -> None:
    h, broker = hub
    stuck = Sink(h, actors["therapist"], gate_open=False)
    await h.subscribe(stuck.conn, streams.plan(team.plan_id), 0)
    await _produce(db, broker, team.plan_id, 2)
    writer = stuck.conn.writer
    assert writer is not None and stuck.conn.backlog > 0
    await h.disconnect(stuck.conn)
    assert writer.done() and stuck.conn.writer is None and not stuck.conn.pending
    assert h.viewers(streams.plan(team.plan_id)) == 0


async def test_a_socket_that_falls_behind_is_queued_in_order_then_written_directly_again(
    hub: tuple[Hub, SpyBroker], actors: dict[str, Actor], team: Team, db: Any
) -> None:
    h, broker = hub
    sink = Sink(h, actors["nurse"], direct=True)
    await h.subscribe(sink.conn, streams.plan(team.plan_id), 0)
    await sink.wait(lambda s: len(s.frames) == 1)
    await _produce(db, broker, team.plan_id, 2)
    assert sink.conn.idle and len(sink.wires) == 1
    sink.gate.clear()  # the kernel's buffer is full: the direct path refuses, a writer takes the backlog
    await _produce(db, broker, team.plan_id, 1)
    await _produce(db, broker, team.plan_id, 1)
    assert sink.conn.writer is not None and sink.events() == [1, 2]
    sink.gate.set()
    await sink.wait(lambda s: s.conn.idle)
    await _produce(db, broker, team.plan_id, 1)
    assert sink.events() == [1, 2, 3, 4, 5]
    through_send = [orjson.loads(m["text"]) for m in sink.messages]
    assert [f.get("seq") for f in through_send] == [None, 3, 4]  # "subscribed", then the backlog
    assert len(sink.wires) == 2 and orjson.loads(unframe(sink.wires[-1])[0])["seq"] == 5


async def test_events_handed_over_by_the_unit_of_work_are_not_read_back_and_equal_the_log(
    hub: tuple[Hub, SpyBroker],
    actors: dict[str, Actor],
    team: Team,
    db: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    h, broker = hub
    live = Sink(h, actors["nurse"], direct=True)
    await h.subscribe(live.conn, streams.plan(team.plan_id), 0)
    await live.wait(lambda s: len(s.frames) == 1)
    reads = _count_log_reads(monkeypatch)
    for count in (1, 3):
        async with db() as session:
            last = await emit(session, team.plan_id, count)
            rows = list(
                await session.exec(
                    select(StreamEvent).where(*of_plan(team.plan_id), col(StreamEvent.seq) > last - count)
                )
            )
        h.committed(rows)
        await broker.publish_many([(streams.plan(team.plan_id), last)])
        await broker.delivered()
    assert reads == [] and live.events() == [1, 2, 3, 4]
    # A gap in what was handed over (another process's write) is read from the log.
    async with db() as session:
        await emit(session, team.plan_id, 1)
        last = await emit(session, team.plan_id, 1)
        (row,) = await session.exec(
            select(StreamEvent).where(StreamEvent.seq == last, *of_plan(team.plan_id))
        )
    h.committed([row])
    await broker.publish_many([(streams.plan(team.plan_id), last)])
    await broker.delivered()
    assert reads == [team.plan_id] and live.events() == [1, 2, 3, 4, 5, 6]
    # What was sent is byte for byte what a replay from the log sends.
    replayer = Sink(h, actors["therapist"], direct=True)
    await h.subscribe(replayer.conn, streams.plan(team.plan_id), 0)
    await replayer.wait(lambda s: len(s.events()) == 6)
    sent = [f for f in live.frames if f["type"] == "event"]
    assert sent == [f for f in replayer.frames if f["type"] == "event"]
    assert b"".join(live.wires) == b"".join(
        protocol.event_frame(r).wire for r in await _log(db, team.plan_id)
    )
    h.committed([object()])  # type: ignore[list-item]  # never raises


async def _log(db: Any, plan_id: int) -> list[StreamEvent]:
    async with db() as session:
        return await read_after_unpatched(session, streams.plan(plan_id), 0)


async def test_replay_and_live_events_have_no_gap_and_no_duplicate(
    hub: tuple[Hub, SpyBroker], actors: dict[str, Actor], team: Team, db: Any
) -> None:
    h, broker = hub
    await _produce(db, broker, team.plan_id, 100)
    watching = Sink(h, actors["therapist"])
    watcher = watching.conn
    # Keeps the plan live, so notices flow during replays.
    await h.subscribe(watcher, streams.plan(team.plan_id), 100)

    async def writes() -> None:
        for _ in range(20):
            await _produce(db, broker, team.plan_id, 10)

    producer = asyncio.create_task(writes())
    sinks = []
    for after in (0, 17, 60, 100, None):
        sink = Sink(h, actors["nurse"])
        conn = sink.conn
        sinks.append((after, sink))
        await h.subscribe(conn, streams.plan(team.plan_id), after)
        await asyncio.sleep(0.01)
    await producer
    for after, sink in [*sinks, (100, watching)]:
        await sink.wait(lambda s: bool(s.frames) and max([s.frames[0]["last_seq"], *s.events()]) == 300)
        first = sink.frames[0]
        assert first["type"] == ("snapshot" if after is None else "subscribed")
        start = first["last_seq"] if after is None else after
        assert sink.events() == list(range(start + 1, 301)), after


async def test_events_committed_while_the_replay_is_read_are_neither_lost_nor_doubled(
    app: Any,
    hub: tuple[Hub, SpyBroker],
    actors: dict[str, Actor],
    team: Team,
    db: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The race the registration order exists for: the replay's snapshot misses events that commit
    right after it, and their notice is fanned out before the replay is queued."""
    h, broker = hub
    watcher = Sink(h, actors["therapist"]).conn
    await h.subscribe(watcher, streams.plan(team.plan_id), 0)  # the plan is live, so the notice is fanned out
    await _produce(db, broker, team.plan_id, 5)
    read_after = events.read_after

    async def stale_replay(
        session: Any, stream: Stream, after: int, *, limit: int | None = None
    ) -> list[StreamEvent]:
        if limit is not None:  # the fan-out's read
            return await read_after(session, stream, after, limit=limit)
        async with app.state.sessions() as own:
            rows = await read_after(own, stream, after)
        await _produce(db, broker, stream.id, 3)  # commits after the replay's snapshot
        return rows

    monkeypatch.setattr(events, "read_after", stale_replay)
    sink = Sink(h, actors["nurse"])
    conn = sink.conn
    await h.subscribe(conn, streams.plan(team.plan_id), 2)
    await sink.wait(lambda s: len(s.events()) >= 6)
    # A barrier: one more event, sent after anything the notices and the replay above queued for the sink.
    await _produce(db, broker, team.plan_id)
    await sink.wait(lambda s: 9 in s.events())
    assert sink.events() == [3, 4, 5, 6, 7, 8, 9]


async def test_subscribing_again_replaces_the_subscription(
    hub: tuple[Hub, SpyBroker], actors: dict[str, Actor], team: Team, db: Any
) -> None:
    h, broker = hub
    sink = Sink(h, actors["nurse"], direct=True, gate_open=False)  # sends wait until the gate opens
    conn = sink.conn
    await h.subscribe(conn, streams.plan(team.plan_id), 0)
    await _produce(db, broker, team.plan_id, 5)  # queued for the first subscription, not yet sent
    await h.subscribe(conn, streams.plan(team.plan_id), 2)
    sink.gate.set()
    await sink.wait(lambda s: len(s.frames) >= 5)
    # A barrier: one more event, sent after anything either subscription queued for the socket.
    await _produce(db, broker, team.plan_id)
    await sink.wait(lambda s: 6 in s.events())
    # The first subscription's own "subscribed" was already on its way; none of its events follow it.
    assert [f["type"] for f in sink.frames] == ["subscribed", "subscribed"] + ["event"] * 4
    assert sink.frames[1]["last_seq"] == 5 and sink.events() == [3, 4, 5, 6]


async def test_resync_instead_of_replay(
    hub: tuple[Hub, SpyBroker], actors: dict[str, Actor], team: Team, db: Any, settings: Settings
) -> None:
    h, broker = hub
    sink = Sink(h, actors["nurse"])
    conn = sink.conn
    await _produce(db, broker, team.plan_id, 10)
    async with db() as session:  # the log was pruned up to seq 4
        await session.exec(delete(StreamEvent).where(col(StreamEvent.seq) <= 4))
    for after, reason in ((11, "ahead_of_log"), (2, "log_pruned"), (0, "log_pruned")):
        await h.subscribe(conn, streams.plan(team.plan_id), after)
        await sink.wait(lambda s: len(s.frames) == 1)
        assert sink.frames.pop() == {
            "type": "resync",
            "stream": f"plan:{team.plan_id}",
            "plan_id": team.plan_id,
            "reason": reason,
        }
        assert h.viewers(streams.plan(team.plan_id)) == 0
    await h.subscribe(conn, streams.plan(team.plan_id), 4)  # the oldest kept event is after + 1: a replay
    await sink.wait(lambda s: len(s.events()) == 6)
    assert sink.events() == list(range(5, 11))
    await h.subscribe(conn, streams.plan(team.plan_id), 10)  # up to date: nothing to replay
    await sink.wait(lambda s: len(s.frames) == 8)
    assert sink.frames[-1] == {
        "type": "subscribed",
        "stream": f"plan:{team.plan_id}",
        "plan_id": team.plan_id,
        "last_seq": 10,
    }


async def test_foreign_and_missing_plans_are_not_found_and_audited_reads_are_the_real_ones(
    hub: tuple[Hub, SpyBroker], actors: dict[str, Actor], team: Team, db: Any
) -> None:
    h, broker = hub
    sink = Sink(h, actors["nurse"])
    conn = sink.conn
    await h.subscribe(conn, streams.plan(team.other_plan_id), 0)
    await h.subscribe(conn, streams.plan(987_654), None)
    await h.subscribe(conn, streams.plan(team.plan_id), None)
    await sink.wait(lambda s: len(s.frames) == 3)
    foreign, missing, snapshot = sink.frames
    assert foreign == {
        "type": "error",
        "code": "not_found",
        "detail": "No such care plan.",
        "stream": f"plan:{team.other_plan_id}",
        "plan_id": team.other_plan_id,
    }
    assert missing == {**foreign, "stream": "plan:987654", "plan_id": 987_654}
    assert snapshot["type"] == "snapshot" and snapshot["board"]["plan"]["id"] == team.plan_id
    assert broker.streams == {streams.plan(team.plan_id)}
    async with db() as session:
        reads = (await session.exec(select(AuditEntry).where(AuditEntry.resource_type == "care_plan"))).all()
    assert [(r.user_id, r.resource_id, r.action) for r in reads] == [
        (team.nurse.id, str(team.plan_id), "read")
    ]


async def test_recheck_drops_a_removed_member_and_closes_ended_sessions(
    app: Any, hub: tuple[Hub, SpyBroker], actors: dict[str, Actor], team: Team, db: Any
) -> None:
    h, broker = hub
    sinks = [Sink(h, actors[n]) for n in ("nurse", "therapist", "nurse")]
    nurse, therapist, leaving = (s.conn for s in sinks)
    for conn in (nurse, therapist, leaving):
        await h.subscribe(conn, streams.plan(team.plan_id), 0)
    await h.recheck()
    assert h.viewers(streams.plan(team.plan_id)) == 3  # nothing changed, nothing happens
    async with db() as session:
        await session.exec(delete(CareTeamMember).where(col(CareTeamMember.user_id) == team.therapist.id))
    await h.recheck()
    await sinks[1].wait(lambda s: s.frames[-1]["type"] == "error")
    assert sinks[1].frames[-1] == {
        "type": "error",
        "code": "forbidden",
        "stream": f"plan:{team.plan_id}",
        "plan_id": team.plan_id,
        "detail": "You are no longer on this plan's care team.",
    }
    assert therapist.subs == {} and h.viewers(streams.plan(team.plan_id)) == 2 and therapist in h.connections

    await _produce(db, broker, team.plan_id)
    await sinks[0].wait(lambda s: s.events() == [1])
    async with db() as session:
        await accounts.close_all_sessions(session, team.nurse.id or 0)
    await h.recheck()
    for sink in (sinks[0], sinks[2]):
        await sink.wait(lambda s: s.closed == 4401)
    assert h.viewers(streams.plan(team.plan_id)) == 0 and h.connections == {therapist}
    assert sinks[1].events() == []


@pytest.mark.parametrize("batch", [RECHECK_BATCH, 100])
async def test_recheck_asks_for_many_streams_readers_in_one_statement(
    app: Any,
    hub: tuple[Hub, SpyBroker],
    actors: dict[str, Actor],
    team: Team,
    db: Any,
    batch: int,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A process watching many plans re-checks their readers in a statement per ``RECHECK_BATCH`` plans (one
    select with an IN over them: the same statement whatever the number), and still drops a removed member
    from every one of them."""
    monkeypatch.setattr(hub_module, "RECHECK_BATCH", batch)
    h, _ = hub
    async with db() as session:
        patient_id = (await session.get(CarePlan, team.plan_id)).patient_id  # type: ignore[union-attr]
        patient = await session.get(Patient, patient_id)
        assert patient is not None
        plan_ids = [team.plan_id] + [(await make_plan(session, patient)).id or 0 for _ in range(119)]
    # Two sockets each, 60 plans a socket (a socket may watch 100 streams).
    nurses = [Sink(h, actors["nurse"]) for _ in range(2)]
    therapists = [Sink(h, actors["therapist"]) for _ in range(2)]
    for i, plan_id in enumerate(plan_ids):
        await h.subscribe(nurses[i % 2].conn, streams.plan(plan_id), 0)
        await h.subscribe(therapists[i % 2].conn, streams.plan(plan_id), 0)
    assert all(h.viewers(streams.plan(p)) == 2 for p in plan_ids)
    async with db() as session:
        await session.exec(delete(CareTeamMember).where(col(CareTeamMember.user_id) == team.therapist.id))
    with statements(app, begin=False) as seen:
        await h.recheck()
    readers = [s for s in seen if "FROM care_plan JOIN (SELECT care_team.patient_id" in s]
    # 120 plans: one statement, or 100 + 20 (the app's job runner may run statements meanwhile)
    assert len(readers) == -(-len(plan_ids) // batch), seen
    assert [t.conn.subs for t in therapists] == [{}, {}]
    assert all(h.viewers(streams.plan(p)) == 1 for p in plan_ids)


async def test_disconnect_forgets_every_subscription(
    hub: tuple[Hub, SpyBroker], actors: dict[str, Actor], team: Team, db: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    h, broker = hub
    monkeypatch.setattr(hub_module, "MAX_STREAMS_PER_CONNECTION", 2)
    sink = Sink(h, actors["nurse"])
    conn = sink.conn
    async with db() as session:
        plan = await session.get(CarePlan, team.plan_id)
        patient = await session.get(Patient, plan.patient_id if plan else 0)
        assert patient is not None
        extra = [(await make_plan(session, patient)).id or 0 for _ in range(2)]
    await h.subscribe(conn, streams.plan(team.plan_id), 0)
    await h.subscribe(conn, streams.plan(extra[0]), 0)
    await h.subscribe(conn, streams.plan(extra[1]), 0)
    await sink.wait(lambda s: len(s.frames) == 3)
    assert sink.frames[-1]["code"] == "too_many_subscriptions"
    assert broker.streams == {streams.plan(team.plan_id), streams.plan(extra[0])}
    await h.disconnect(conn)
    assert conn.subs == {} and broker.streams == frozenset() and not h.connections
    assert h.viewers(streams.plan(team.plan_id)) == h.viewers(streams.plan(extra[0])) == 0
