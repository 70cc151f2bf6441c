"""Every broker backend: notices cross processes, one subscription per plan, outages are survived.

Redis and PostgreSQL run for real when CARETEAM_TEST_REDIS_URL / CARETEAM_TEST_DATABASE_URL are set;
set but unreachable fails.
"""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from prometheus_client import REGISTRY

from careteam.events import streams
from careteam.events.streams import Stream
from careteam.realtime.broker import Broker, make_broker
from careteam.realtime.broker.base import CATCH_UP
from tests import conftest

REDIS_URL = os.environ.get("CARETEAM_TEST_REDIS_URL", "")
# Redis channels are global to the server: plan ids of this run's own, so two runs on one machine never see
# each other's notices (PostgreSQL notices stay in this run's database anyway).
PLAN = (1 + secrets.randbelow(2**20)) * 1000  # stream ids stay below 2**31
CLIENT_NAME = f"careteam-test-{PLAN}"


@pytest.fixture(params=["memory", "redis", "postgres"])
async def broker_url(request: pytest.FixtureRequest) -> str:
    if request.param == "memory":
        return "memory://"
    if request.param == "redis":
        if not REDIS_URL:
            pytest.skip("no test URL for redis")
        # Named, so a test can drop this run's connections without touching anybody else's.
        return f"{REDIS_URL}{'&' if '?' in REDIS_URL else '?'}client_name={CLIENT_NAME}"
    if not conftest.PG_URL:
        pytest.skip("no test URL for postgres")
    await conftest._prepare_postgres()
    return conftest.PG_URL


class Recorder:
    def __init__(self) -> None:
        self.notices: list[tuple[Stream, int]] = []
        self.arrived = asyncio.Event()

    def __call__(self, stream: Stream, seq: int) -> None:
        self.notices.append((stream, seq))
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
    plan, other = streams.plan(PLAN + 41), streams.plan(PLAN + 42)
    await receiver.subscribe(plan)  # returns once the server has the subscription
    await sender.publish_many([(plan, 1), (plan, 3), (other, 7), (plan, 2)])
    # A barrier: notices reach one listener in the order they were published, so once this one is here,
    # anything the publish above would have sent is here too.
    await sender.publish_many([(plan, 100)])
    await recorder.wait_for(lambda n: (plan, 100) in n)
    # One notice per plan per publish (the highest seq), and nothing for a plan nobody here watches.
    assert recorder.notices == [(plan, 3), (plan, 100)]


async def test_unsubscribe_stops_notices(pair: Any) -> None:
    sender, receiver, recorder = pair
    plan, barrier = streams.plan(PLAN + 5), streams.plan(PLAN + 6)
    await receiver.subscribe(plan)
    await receiver.subscribe(barrier)
    await sender.publish_many([(plan, 1)])
    await recorder.wait_for(lambda n: len(n) == 1)
    await receiver.unsubscribe(plan)
    await sender.publish_many([(plan, 2)])
    await sender.publish_many([(barrier, 1)])  # arrives after (plan, 2) would have
    await recorder.wait_for(lambda n: (barrier, 1) in n)
    assert recorder.notices == [(plan, 1), (barrier, 1)]
    assert receiver.streams == frozenset({barrier})


async def test_a_failing_handler_does_not_stop_the_broker(pair: Any) -> None:
    sender, receiver, recorder = pair
    plan = streams.plan(PLAN + 9)
    calls: list[int] = []

    def flaky(plan_id: Stream, seq: int) -> None:
        calls.append(seq)
        if seq == 1:
            raise RuntimeError("boom")
        recorder(plan_id, seq)

    receiver.set_handler(flaky)
    await receiver.subscribe(plan)
    await sender.publish_many([(plan, 1)])
    await sender.publish_many([(plan, 2)])  # delivered after the first, whose handler failed
    await recorder.wait_for(lambda n: (plan, 2) in n)
    assert calls == [1, 2]


@pytest.mark.parametrize("broker_url", ["redis", "postgres"], indirect=True)
async def test_lost_link_reconnects_and_asks_for_catch_up(pair: Any, broker_url: str) -> None:
    """The server drops the listening connections: the broker reconnects by itself and tells the hub to
    read whatever is new from the log, since notices may have been lost meanwhile."""
    sender, receiver, recorder = pair
    backend = "redis" if broker_url.startswith("redis") else "postgres"
    reconnects = REGISTRY.get_sample_value("careteam_broker_reconnects_total", {"backend": backend}) or 0
    plan, sent_plan = streams.plan(PLAN + 77), streams.plan(PLAN + 78)
    await receiver.subscribe(plan)
    # The sender's listening link is dropped too, and it publishes nothing until it is back: it says so
    # with a catch-up of its own (announced once it is connected again).
    sent = Recorder()
    sender.set_handler(sent)
    await sender.subscribe(sent_plan)
    if broker_url.startswith("redis"):
        import redis.asyncio as aioredis

        admin = aioredis.from_url(REDIS_URL)
        try:
            # Only this run's listeners: the server's other clients are other runs'.
            ours = [c["id"] for c in await admin.client_list(_type="pubsub") if c["name"] == CLIENT_NAME]
            assert len(ours) == 2
            for client_id in ours:
                await admin.client_kill_filter(_id=client_id)
            await recorder.wait_for(lambda n: (plan, CATCH_UP) in n, seconds=10)
            await sent.wait_for(lambda n: (sent_plan, CATCH_UP) in n, seconds=10)
            # CATCH_UP is announced only once Redis confirmed the re-SUBSCRIBEs: the subscriptions are there.
            assert await _subscribers(admin, f"careteam:{plan}")
            assert await _subscribers(admin, f"careteam:{sent_plan}")
        finally:
            await admin.aclose()
    else:
        import asyncpg

        from careteam.realtime.broker.postgres import LISTENER_NAME, dsn

        admin = await asyncpg.connect(dsn(broker_url))
        try:
            killed = await admin.fetchval(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                " WHERE application_name = $1 AND datname = current_database()",
                LISTENER_NAME,
            )
        finally:
            await admin.close()
        assert killed == 2
        # The broker is connected again only once its LISTENs have run.
        await recorder.wait_for(lambda n: (plan, CATCH_UP) in n, seconds=10)
        await sent.wait_for(lambda n: (sent_plan, CATCH_UP) in n, seconds=10)
    await sender.publish_many([(plan, 5)])
    await recorder.wait_for(lambda n: (plan, 5) in n, seconds=10)
    # Counted for operators (docs/operations.md): both brokers came back.
    now = REGISTRY.get_sample_value("careteam_broker_reconnects_total", {"backend": backend}) or 0
    assert now - reconnects >= 2


async def _subscribers(admin: Any, channel: str) -> bool:
    ((_, count),) = await admin.pubsub_numsub(channel)
    return bool(count)


class HoldingProxy:
    """A TCP proxy in front of Redis. ``drop(n)`` cuts link n; on the link numbered ``hold`` it forwards
    the client's SUBSCRIBE but no reply from then on, like a Redis that has not confirmed it (yet)."""

    def __init__(self, host: str, port: int) -> None:
        self._target = (host, port)
        self.hold: int | None = None
        self.links: list[dict[str, Any]] = []  # per link: its writers, whether it holds, what it forwarded
        self._server: asyncio.Server | None = None
        self._pumps: set[asyncio.Task[None]] = set()

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        return int(self._server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        for number in range(len(self.links)):
            self.drop(number)
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        await asyncio.gather(*self._pumps, return_exceptions=True)

    def drop(self, number: int) -> None:
        for writer in self.links[number]["writers"]:
            writer.close()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(*self._target)
        link: dict[str, Any] = {"writers": (writer, up_writer), "holding": False, "forwarded": bytearray()}
        hold = self.hold == len(self.links)
        self.links.append(link)

        async def to_redis() -> None:
            while data := await reader.read(65536):
                if hold and b"SUBSCRIBE" in data.upper():
                    link["holding"] = True  # before Redis can have seen it, so before any confirmation
                up_writer.write(data)
                await up_writer.drain()

        async def to_client() -> None:
            while data := await up_reader.read(65536):
                if not link["holding"]:
                    link["forwarded"] += data
                    writer.write(data)
                    await writer.drain()

        async def pump(direction: Callable[[], Any]) -> None:
            try:
                await direction()
            except (OSError, RuntimeError):
                pass
            finally:
                writer.close()
                up_writer.close()

        for direction in (to_redis, to_client):
            task = asyncio.create_task(pump(direction))
            self._pumps.add(task)
            task.add_done_callback(self._pumps.discard)


@pytest.mark.parametrize("broker_url", ["redis"], indirect=True)
async def test_catch_up_waits_for_redis_to_confirm_the_resubscribe(broker_url: str) -> None:
    """The hub reads the log when told to catch up, so a notice published after that read must arrive: the
    broker may announce CATCH_UP only once Redis confirmed the re-SUBSCRIBE. Here the link after the loss
    never gets its confirmation: announcing on it would be too early, deterministically; the broker gives up
    on it and announces on the next link, once that one's confirmation came through."""
    from urllib.parse import urlsplit

    target = urlsplit(broker_url)
    proxy = HoldingProxy(target.hostname or "127.0.0.1", target.port or 6379)
    port = await proxy.start()
    receiver = make_broker(target._replace(netloc=f"127.0.0.1:{port}").geturl())
    sender = make_broker(broker_url)
    receiver.confirm_timeout = 1.0  # type: ignore[attr-defined]  # a held link is given up after 1 s
    plan = streams.plan(PLAN + 88)
    recorder = Recorder()
    confirmed_at_catch_up: list[bool] = []

    def handler(plan_id: Stream, seq: int) -> None:
        if seq == CATCH_UP:  # what the broker had received on its link when it announced
            confirmed_at_catch_up.append(f"careteam:{plan}".encode() in proxy.links[-1]["forwarded"])
        recorder(plan_id, seq)

    receiver.set_handler(handler)
    try:
        await receiver.start()
        await sender.start()
        await _connected(receiver)
        await _connected(sender)
        await receiver.subscribe(plan)
        assert len(proxy.links) == 1
        proxy.hold = 1  # the reconnect's link
        proxy.drop(0)
        await recorder.wait_for(lambda n: (plan, CATCH_UP) in n, seconds=60)
        assert confirmed_at_catch_up[0], "CATCH_UP announced before Redis confirmed the SUBSCRIBE"
        assert len(proxy.links) >= 3 and proxy.links[1]["holding"]
        await sender.publish_many([(plan, 5)])
        await recorder.wait_for(lambda n: (plan, 5) in n, seconds=10)
    finally:
        await sender.stop()
        await receiver.stop()
        await proxy.stop()


async def test_unreachable_broker_never_fails_a_publish() -> None:
    for url in ("redis://127.0.0.1:1/0", "postgresql://postgres@127.0.0.1:1/test"):
        broker = make_broker(url)
        await broker.start()
        await broker.subscribe(streams.plan(1))
        await broker.publish_many([(streams.plan(1), 1)])  # no exception: the write has committed anyway
        await broker.stop()


def test_unknown_scheme_is_refused() -> None:
    with pytest.raises(ValueError, match="memory://, redis:// or postgresql://"):
        make_broker("kafka://localhost")


async def test_a_notice_right_after_subscribe_is_not_missed(pair: Any) -> None:
    """subscribe() returns once the server has the subscription: the hub reads the log right after it, so a
    notice published from then on must arrive."""
    sender, receiver, recorder = pair
    plans = [streams.plan(n) for n in range(PLAN + 100, PLAN + 110)]
    for plan_id in plans:
        await receiver.subscribe(plan_id)
        await sender.publish_many([(plan_id, 1)])
    await recorder.wait_for(lambda n: len(n) == 10)
    assert sorted(recorder.notices) == [(p, 1) for p in plans]
