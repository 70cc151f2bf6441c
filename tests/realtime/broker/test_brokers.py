"""Every broker backend: notices cross processes, one subscription per plan, outages are survived.

Redis and PostgreSQL run for real when CARETEAM_TEST_REDIS_URL / CARETEAM_TEST_DATABASE_URL are set;
set but unreachable fails.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from careteam.realtime.broker import Broker, make_broker
from careteam.realtime.broker.base import CATCH_UP

REDIS_URL = os.environ.get("CARETEAM_TEST_REDIS_URL", "")
PG_URL = os.environ.get("CARETEAM_TEST_DATABASE_URL", "")


@pytest.fixture(params=["memory", "redis", "postgres"])
def broker_url(request: pytest.FixtureRequest) -> str:
    if request.param == "memory":
        return "memory://"
    url = REDIS_URL if request.param == "redis" else PG_URL
    if not url:
        pytest.skip(f"no test URL for {request.param}")
    return url


class Recorder:
    def __init__(self) -> None:
        self.notices: list[tuple[int, int]] = []
        self.arrived = asyncio.Event()

    def __call__(self, plan_id: int, seq: int) -> None:
        self.notices.append((plan_id, seq))
        self.arrived.set()

    async def wait_for(
        self, predicate: Callable[[list[tuple[int, int]]], bool], seconds: float = 5.0
    ) -> None:
        async def poll() -> None:
            while not predicate(self.notices):
                self.arrived.clear()
                await self.arrived.wait()

        await asyncio.wait_for(poll(), seconds)


async def _connected(broker: Broker) -> None:
    event = getattr(broker, "connected", None)
    if event is not None:
        try:
            await asyncio.wait_for(event.wait(), 5)
        except TimeoutError:
            pytest.fail(f"{type(broker).__name__} could not connect: is the service up?")


@pytest.fixture
async def pair(broker_url: str) -> AsyncIterator[tuple[Broker, Broker, Recorder]]:
    """Two brokers as two processes would have (memory: the same process, one broker)."""
    receiver = make_broker(broker_url)
    sender = receiver if broker_url == "memory://" else make_broker(broker_url)
    recorder = Recorder()
    receiver.set_handler(recorder)
    await receiver.start()
    if sender is not receiver:
        await sender.start()
    await _connected(receiver)
    await _connected(sender)
    yield sender, receiver, recorder
    if sender is not receiver:
        await sender.stop()
    await receiver.stop()


async def test_notices_reach_the_subscribed_plan_only(pair: Any) -> None:
    sender, receiver, recorder = pair
    await receiver.subscribe(41)
    await asyncio.sleep(0.1)  # let the SUBSCRIBE / LISTEN reach the server
    await sender.publish_many([(41, 1), (41, 3), (42, 7), (41, 2)])
    await recorder.wait_for(lambda n: (41, 3) in n)
    await asyncio.sleep(0.2)
    # One notice per plan per publish (the highest seq), and nothing for a plan nobody here watches.
    assert recorder.notices == [(41, 3)]


async def test_unsubscribe_stops_notices(pair: Any) -> None:
    sender, receiver, recorder = pair
    await receiver.subscribe(5)
    await asyncio.sleep(0.1)
    await sender.publish_many([(5, 1)])
    await recorder.wait_for(lambda n: len(n) == 1)
    await receiver.unsubscribe(5)
    await asyncio.sleep(0.1)
    await sender.publish_many([(5, 2)])
    await asyncio.sleep(0.3)
    assert recorder.notices == [(5, 1)]
    assert receiver.plans == frozenset()


async def test_a_failing_handler_does_not_stop_the_broker(pair: Any) -> None:
    sender, receiver, recorder = pair
    calls: list[int] = []

    def flaky(plan_id: int, seq: int) -> None:
        calls.append(seq)
        if seq == 1:
            raise RuntimeError("boom")
        recorder(plan_id, seq)

    receiver.set_handler(flaky)
    await receiver.subscribe(9)
    await asyncio.sleep(0.1)
    await sender.publish_many([(9, 1)])
    await asyncio.sleep(0.2)
    await sender.publish_many([(9, 2)])
    await recorder.wait_for(lambda n: (9, 2) in n)
    assert calls == [1, 2]


@pytest.mark.parametrize("broker_url", ["redis", "postgres"], indirect=True)
async def test_lost_link_reconnects_and_asks_for_catch_up(pair: Any, broker_url: str) -> None:
    """The server drops the listening connection: the broker reconnects by itself and tells the hub to
    read whatever is new from the log, since notices may have been lost meanwhile."""
    sender, receiver, recorder = pair
    await receiver.subscribe(77)
    await asyncio.sleep(0.1)
    if broker_url.startswith("redis"):
        import redis.asyncio as aioredis

        admin = aioredis.from_url(REDIS_URL)
        await admin.client_kill_filter(_type="pubsub")
        await admin.aclose()
    else:
        import asyncpg

        from careteam.realtime.broker.postgres import LISTENER_NAME, dsn

        admin = await asyncpg.connect(dsn(PG_URL))
        killed = await admin.fetchval(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = $1",
            LISTENER_NAME,
        )
        assert killed >= 1
        await admin.close()
    await recorder.wait_for(lambda n: (77, CATCH_UP) in n, seconds=10)
    await _connected(receiver)
    await asyncio.sleep(0.2)
    await sender.publish_many([(77, 5)])
    await recorder.wait_for(lambda n: (77, 5) in n, seconds=10)


async def test_unreachable_broker_never_fails_a_publish() -> None:
    for url in ("redis://127.0.0.1:1/0", "postgresql://postgres@127.0.0.1:1/test"):
        broker = make_broker(url)
        await broker.start()
        await broker.subscribe(1)
        await broker.publish_many([(1, 1)])  # no exception: the write has committed anyway
        await broker.stop()


def test_unknown_scheme_is_refused() -> None:
    with pytest.raises(ValueError, match="memory://, redis:// or postgresql://"):
        make_broker("kafka://localhost")


async def test_a_notice_right_after_subscribe_is_not_missed(pair: Any) -> None:
    """subscribe() returns once the server has the subscription: the hub reads the log right after it, so a
    notice published from then on must arrive."""
    sender, receiver, recorder = pair
    for plan_id in range(100, 110):
        await receiver.subscribe(plan_id)
        await sender.publish_many([(plan_id, 1)])
    await recorder.wait_for(lambda n: len(n) == 10)
    assert sorted(recorder.notices) == [(p, 1) for p in range(100, 110)]
