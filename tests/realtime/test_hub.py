"""The hub without sockets: connections are drained by their real writer (``Connection.pump``) into lists.

What the fan-out promises: one broker subscription and one log read per plan whatever the number of viewers,
the same encoded frame on every queue, bounded queues with a slow consumer cut off alone, replay plus live
events with no gap and no duplicate, and access re-checked while connected.
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

from careteam.domain import accounts, events
from careteam.domain.actor import Actor
from careteam.realtime import hub as hub_module
from careteam.realtime.broker.memory import MemoryBroker
from careteam.realtime.hub import Close, Connection, Hub, Start
from careteam.realtime.protocol import EventFrame
from careteam.settings import Settings
from careteam.store.tables import AuditEntry, CarePlan, CareTeamMember, Patient, PlanEvent
from tests.factories import emit, make_plan
from tests.realtime.conftest import Team, bearer


class SpyBroker(MemoryBroker):
    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[str, int]] = []

    async def subscribe(self, plan_id: int) -> None:
        self.calls.append(("subscribe", plan_id))
        await super().subscribe(plan_id)

    async def unsubscribe(self, plan_id: int) -> None:
        self.calls.append(("unsubscribe", plan_id))
        await super().unsubscribe(plan_id)


class Sink:
    """A connection's writer, sending into a list."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.frames: list[dict[str, Any]] = []
        self.closed: int | None = None
        self.task = asyncio.create_task(conn.pump(self._send, self._close))
        conn.writer = self.task

    async def _send(self, message: dict[str, Any]) -> None:
        self.frames.append(orjson.loads(message["text"]))

    async def _close(self, code: int, reason: str) -> None:
        self.closed = code

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
    hub = Hub(app.state.sessions, broker, quiet)
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
    await broker.publish_many([(plan_id, last)])
    await broker.delivered()
    return last


def _drain(conn: Connection) -> list[Any]:
    items = []
    while not conn.queue.empty():
        items.append(conn.queue.get_nowait())
    return items


async def test_one_broker_subscription_per_plan_whatever_the_viewers(
    hub: tuple[Hub, SpyBroker], actors: dict[str, Actor], team: Team
) -> None:
    h, broker = hub
    conns = [h.connect(actors["nurse"]) for _ in range(3)] + [h.connect(actors["therapist"])]
    for conn in conns:
        await h.subscribe(conn, team.plan_id, 0)
    assert h.viewers(team.plan_id) == 4
    assert broker.calls == [("subscribe", team.plan_id)]
    for conn in conns[:3]:
        await h.disconnect(conn)
    assert broker.calls == [("subscribe", team.plan_id)]
    await h.unsubscribe(conns[3], team.plan_id)
    assert broker.calls == [("subscribe", team.plan_id), ("unsubscribe", team.plan_id)]
    assert h.viewers(team.plan_id) == 0 and broker.plans == frozenset()


async def test_fan_out_reads_the_log_once_and_queues_the_same_frame_for_everyone(
    hub: tuple[Hub, SpyBroker], actors: dict[str, Actor], team: Team, db: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    h, broker = hub
    conns = [h.connect(actors["nurse"]) for _ in range(50)]
    for conn in conns:
        await h.subscribe(conn, team.plan_id, 0)
        assert type(_drain(conn)[0]) is Start
    reads: list[int] = []
    read_after = events.read_after

    async def counting(*args: Any, **kwargs: Any) -> list[PlanEvent]:
        reads.append(args[1])
        return await read_after(*args, **kwargs)

    monkeypatch.setattr(events, "read_after", counting)
    await _produce(db, broker, team.plan_id, 3)  # one notice for three events
    await _produce(db, broker, team.plan_id, 1)
    assert reads == [team.plan_id, team.plan_id]
    queued = [_drain(conn) for conn in conns]
    batch, single = queued[0]
    assert isinstance(batch, tuple) and [f.seq for f in batch] == [1, 2, 3]
    assert isinstance(single, EventFrame) and single.seq == 4
    # Encoded once: every queue holds the very same objects, down to the ASGI message.
    assert all(q[0] is batch and q[1] is single for q in queued)
    assert orjson.loads(single.message["text"])["seq"] == 4


async def test_a_full_queue_cuts_that_viewer_off_alone(
    hub: tuple[Hub, SpyBroker], actors: dict[str, Actor], team: Team, db: Any, settings: Settings
) -> None:
    h, broker = hub
    fast, slow = h.connect(actors["nurse"]), h.connect(actors["therapist"])
    sink = Sink(fast)
    await h.subscribe(fast, team.plan_id, 0)
    await h.subscribe(slow, team.plan_id, 0)  # nobody drains this one
    largest = 0
    for _ in range(settings.ws_queue_size + 5):
        await _produce(db, broker, team.plan_id)
        largest = max(largest, slow.queue.qsize())
    assert largest <= settings.ws_queue_size
    assert slow.ending and h.viewers(team.plan_id) == 1 and slow not in h.connections
    # What is left for its writer: resync for each plan, then close "try again later".
    assert _drain(slow) == [
        orjson.dumps({"type": "resync", "plan_id": team.plan_id, "reason": "too_slow"}).decode(),
        Close(1013, "too slow"),
    ]
    total = settings.ws_queue_size + 5
    await sink.wait(lambda s: len(s.events()) == total)
    assert sink.events() == list(range(1, total + 1))


async def test_replay_and_live_events_have_no_gap_and_no_duplicate(
    hub: tuple[Hub, SpyBroker], actors: dict[str, Actor], team: Team, db: Any
) -> None:
    h, broker = hub
    await _produce(db, broker, team.plan_id, 100)
    watcher = h.connect(actors["therapist"])
    watching = Sink(watcher)
    await h.subscribe(watcher, team.plan_id, 100)  # keeps the plan live, so notices flow during replays

    async def writes() -> None:
        for _ in range(20):
            await _produce(db, broker, team.plan_id, 10)

    producer = asyncio.create_task(writes())
    sinks = []
    for after in (0, 17, 60, 100, None):
        conn = h.connect(actors["nurse"])
        sinks.append((after, Sink(conn)))
        await h.subscribe(conn, team.plan_id, after)
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
    watcher = h.connect(actors["therapist"])
    await h.subscribe(watcher, team.plan_id, 0)  # the plan is live, so the notice is fanned out
    await _produce(db, broker, team.plan_id, 5)
    read_after = events.read_after

    async def stale_replay(
        session: Any, plan_id: int, after: int, *, limit: int | None = None
    ) -> list[PlanEvent]:
        if limit is not None:  # the fan-out's read
            return await read_after(session, plan_id, after, limit=limit)
        async with app.state.sessions() as own:
            rows = await read_after(own, plan_id, after)
        await _produce(db, broker, plan_id, 3)  # commits after the replay's snapshot
        return rows

    monkeypatch.setattr(events, "read_after", stale_replay)
    conn = h.connect(actors["nurse"])
    sink = Sink(conn)
    await h.subscribe(conn, team.plan_id, 2)
    await sink.wait(lambda s: len(s.events()) >= 6)
    await asyncio.sleep(0.05)
    assert sink.events() == [3, 4, 5, 6, 7, 8]


async def test_subscribing_again_replaces_the_subscription(
    hub: tuple[Hub, SpyBroker], actors: dict[str, Actor], team: Team, db: Any
) -> None:
    h, broker = hub
    conn = h.connect(actors["nurse"])
    await h.subscribe(conn, team.plan_id, 0)
    await _produce(db, broker, team.plan_id, 5)  # queued for the first subscription, not yet sent
    await h.subscribe(conn, team.plan_id, 2)
    sink = Sink(conn)
    await sink.wait(lambda s: len(s.frames) >= 4)
    await asyncio.sleep(0.05)
    assert [f["type"] for f in sink.frames] == ["subscribed", "event", "event", "event"]
    assert sink.events() == [3, 4, 5]


async def test_resync_instead_of_replay(
    hub: tuple[Hub, SpyBroker], actors: dict[str, Actor], team: Team, db: Any, settings: Settings
) -> None:
    h, broker = hub
    conn = h.connect(actors["nurse"])
    sink = Sink(conn)
    await _produce(db, broker, team.plan_id, 10)
    async with db() as session:  # the log was pruned up to seq 4
        await session.exec(delete(PlanEvent).where(col(PlanEvent.seq) <= 4))
    for after, reason in ((11, "ahead_of_log"), (2, "log_pruned"), (0, "log_pruned")):
        await h.subscribe(conn, team.plan_id, after)
        await sink.wait(lambda s: len(s.frames) == 1)
        assert sink.frames.pop() == {"type": "resync", "plan_id": team.plan_id, "reason": reason}
        assert h.viewers(team.plan_id) == 0
    await h.subscribe(conn, team.plan_id, 4)  # the oldest kept event is after + 1: a replay
    await sink.wait(lambda s: len(s.events()) == 6)
    assert sink.events() == list(range(5, 11))
    await h.subscribe(conn, team.plan_id, 10)  # up to date: nothing to replay
    await sink.wait(lambda s: len(s.frames) == 8)
    assert sink.frames[-1] == {"type": "subscribed", "plan_id": team.plan_id, "last_seq": 10}


async def test_foreign_and_missing_plans_are_not_found_and_audited_reads_are_the_real_ones(
    hub: tuple[Hub, SpyBroker], actors: dict[str, Actor], team: Team, db: Any
) -> None:
    h, broker = hub
    conn = h.connect(actors["nurse"])
    sink = Sink(conn)
    await h.subscribe(conn, team.other_plan_id, 0)
    await h.subscribe(conn, 987_654, None)
    await h.subscribe(conn, team.plan_id, None)
    await sink.wait(lambda s: len(s.frames) == 3)
    foreign, missing, snapshot = sink.frames
    assert foreign == {
        "type": "error",
        "code": "not_found",
        "detail": "No such care plan.",
        "plan_id": team.other_plan_id,
    }
    assert missing == {**foreign, "plan_id": 987_654}
    assert snapshot["type"] == "snapshot" and snapshot["board"]["plan"]["id"] == team.plan_id
    assert broker.plans == {team.plan_id}
    async with db() as session:
        reads = (await session.exec(select(AuditEntry).where(AuditEntry.resource_type == "care_plan"))).all()
    assert [(r.user_id, r.resource_id, r.action) for r in reads] == [
        (team.nurse.id, str(team.plan_id), "read")
    ]


async def test_recheck_drops_a_removed_member_and_closes_ended_sessions(
    app: Any, hub: tuple[Hub, SpyBroker], actors: dict[str, Actor], team: Team, db: Any
) -> None:
    h, broker = hub
    nurse, therapist, leaving = (h.connect(actors[n]) for n in ("nurse", "therapist", "nurse"))
    sinks = [Sink(c) for c in (nurse, therapist, leaving)]
    for conn in (nurse, therapist, leaving):
        await h.subscribe(conn, team.plan_id, 0)
    await h.recheck()
    assert h.viewers(team.plan_id) == 3  # nothing changed, nothing happens
    async with db() as session:
        await session.exec(delete(CareTeamMember).where(col(CareTeamMember.user_id) == team.therapist.id))
    await h.recheck()
    await sinks[1].wait(lambda s: s.frames[-1]["type"] == "error")
    assert sinks[1].frames[-1] == {
        "type": "error",
        "code": "forbidden",
        "plan_id": team.plan_id,
        "detail": "You are no longer on this plan's care team.",
    }
    assert therapist.subs == {} and h.viewers(team.plan_id) == 2 and therapist in h.connections

    await _produce(db, broker, team.plan_id)
    await sinks[0].wait(lambda s: s.events() == [1])
    async with db() as session:
        await accounts.close_all_sessions(session, team.nurse.id or 0)
    await h.recheck()
    for sink in (sinks[0], sinks[2]):
        await sink.wait(lambda s: s.closed == 4401)
    assert h.viewers(team.plan_id) == 0 and h.connections == {therapist}
    assert sinks[1].events() == []


async def test_disconnect_forgets_every_subscription(
    hub: tuple[Hub, SpyBroker], actors: dict[str, Actor], team: Team, db: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    h, broker = hub
    monkeypatch.setattr(hub_module, "MAX_PLANS_PER_CONNECTION", 2)
    conn = h.connect(actors["nurse"])
    sink = Sink(conn)
    async with db() as session:
        plan = await session.get(CarePlan, team.plan_id)
        patient = await session.get(Patient, plan.patient_id if plan else 0)
        assert patient is not None
        extra = [(await make_plan(session, patient)).id or 0 for _ in range(2)]
    await h.subscribe(conn, team.plan_id, 0)
    await h.subscribe(conn, extra[0], 0)
    await h.subscribe(conn, extra[1], 0)
    await sink.wait(lambda s: len(s.frames) == 3)
    assert sink.frames[-1]["code"] == "too_many_subscriptions"
    assert broker.plans == {team.plan_id, extra[0]}
    await h.disconnect(conn)
    assert conn.subs == {} and broker.plans == frozenset() and not h.connections
    assert h.viewers(team.plan_id) == h.viewers(extra[0]) == 0
