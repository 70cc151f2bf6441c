"""What the hub counts for operators (careteam/metrics.py, docs/operations.md): open sockets and
subscriptions, one fan-out observation per batch whatever the number of viewers, cut-offs and resyncs."""

from __future__ import annotations

from typing import Any

from prometheus_client import REGISTRY

from careteam.core.actor import Actor
from careteam.events import streams
from careteam.realtime.hub import Hub
from careteam.settings import Settings
from tests.realtime.conftest import Team
from tests.realtime.test_hub import Sink, SpyBroker, _produce, actors, hub

__all__ = ["actors", "hub"]  # fixtures shared with the hub's tests


def value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_sockets_and_subscriptions_are_gauges_that_come_back_down(
    hub: tuple[Hub, SpyBroker], actors: dict[str, Actor], team: Team
) -> None:
    h, _ = hub
    sockets, subs = (
        value("careteam_websocket_connections"),
        value("careteam_websocket_subscriptions", kind="plan"),
    )
    sinks = [Sink(h, actors["nurse"]) for _ in range(3)]
    for sink in sinks:
        await h.subscribe(sink.conn, streams.plan(team.plan_id), 0)
    await h.subscribe(sinks[0].conn, streams.plan(team.plan_id), 0)  # again: replaces, never adds
    assert value("careteam_websocket_connections") - sockets == 3
    assert value("careteam_websocket_subscriptions", kind="plan") - subs == 3
    await h.unsubscribe(sinks[0].conn, streams.plan(team.plan_id))
    assert value("careteam_websocket_subscriptions", kind="plan") - subs == 2
    for sink in sinks:
        await h.disconnect(sink.conn)
    assert value("careteam_websocket_connections") == sockets
    assert value("careteam_websocket_subscriptions", kind="plan") == subs


async def test_one_fanout_observation_per_batch_and_a_cut_off_counted_once(
    hub: tuple[Hub, SpyBroker], actors: dict[str, Actor], team: Team, db: Any, settings: Settings
) -> None:
    h, broker = hub
    plan = streams.plan(team.plan_id)
    fanouts = value("careteam_fanout_latency_seconds_count")
    cutoffs = value("careteam_websocket_cutoffs_total", reason="too_slow")
    resyncs = value("careteam_websocket_resyncs_total", reason="too_slow")
    fast = [Sink(h, actors["nurse"], direct=True) for _ in range(5)]
    stuck = Sink(h, actors["therapist"], direct=True, gate_open=False)  # reads nothing
    for sink in [*fast, stuck]:
        await h.subscribe(sink.conn, plan, 0)
    batches = settings.ws_queue_size + 5
    for _ in range(batches):
        await _produce(db, broker, team.plan_id)
    await fast[0].wait(lambda s: len(s.events()) == batches)
    assert stuck.conn.ending
    # Six viewers, one observation per notice's batch: the fan-out pays per batch, not per socket.
    assert value("careteam_fanout_latency_seconds_count") - fanouts == batches
    assert value("careteam_websocket_cutoffs_total", reason="too_slow") - cutoffs == 1
    assert value("careteam_websocket_resyncs_total", reason="too_slow") - resyncs == 1


async def test_a_resync_on_subscribe_is_counted_by_reason(
    hub: tuple[Hub, SpyBroker], actors: dict[str, Actor], team: Team
) -> None:
    h, _ = hub
    before = value("careteam_websocket_resyncs_total", reason="ahead_of_log")
    sink = Sink(h, actors["nurse"])
    await h.subscribe(sink.conn, streams.plan(team.plan_id), 10**6)  # after a seq the log never had
    await sink.wait(lambda s: bool(s.frames))
    assert sink.frames[0]["type"] == "resync" and sink.frames[0]["reason"] == "ahead_of_log"
    assert value("careteam_websocket_resyncs_total", reason="ahead_of_log") - before == 1
