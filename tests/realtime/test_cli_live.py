"""A write from outside any server (the ``careteam task set-status`` command, a scheduled job run by another
process) reaches live viewers.

The command's unit of work publishes what it commits on the broker, as a route's does: a viewer on a
server process gets the event with the next seq at once. The servers' periodic sweep is pushed out of the
way (an hour), so only the broker can have brought it.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import orjson
import pytest
from sqlmodel import select
from websockets.asyncio.client import connect

from careteam.accounts.tables import User
from careteam.core.actor import actor_of
from careteam.db.engine import make_engine, make_sessionmaker
from careteam.events import log as events
from careteam.jobs.clock import ManualClock
from careteam.jobs.registry import Registry
from careteam.jobs.runner import Runner
from careteam.plans import tasks
from careteam.plans.codes import TaskStatus
from careteam.plans.schemas import TaskUpdate
from careteam.realtime.broker import make_broker
from careteam.realtime.publish import Publisher
from tests.realtime.test_multiprocess import REDIS_URL, ROOT, Clinic, Server, _clinic, _token

# Alone: the event must arrive within 1 s of the command's exit, and the Redis channels (careteam:plan:<id>)
# are the server's, with plan ids from this database's sequences: another worker's plan 1 is the same channel.
pytestmark = [pytest.mark.postgres, pytest.mark.alone]


@pytest.fixture
async def clinic() -> Clinic:
    return await _clinic("cli_live")


@pytest.mark.parametrize("broker", ["redis", "postgres"])
async def test_a_task_changed_from_the_command_line_reaches_a_viewer_on_a_server(
    broker: str, clinic: Clinic
) -> None:
    broker_url = REDIS_URL if broker == "redis" else clinic.db_url.replace("+asyncpg", "")
    plan_id, username = next(iter(clinic.plans.items()))
    server = Server(clinic.db_url, broker_url, CARETEAM_WS_SWEEP_SECONDS="3600")
    try:
        await server.ready()
        token = await _token(server.base, username)
        async with httpx.AsyncClient(base_url=server.base, timeout=10) as client:
            r = await client.post(
                f"/api/v1/plans/{plan_id}/tasks",
                json={"title": "Opioid agreement renewal", "discipline": "nurse"},
                headers={"Authorization": f"Bearer {token}"},
            )
            assert r.status_code == 201, r.text
            task_id = r.json()["id"]
            board = await client.get(f"/api/v1/plans/{plan_id}", headers={"Authorization": f"Bearer {token}"})
            last_seq = board.json()["last_seq"]
        url = server.base.replace("http", "ws") + "/ws"
        async with connect(url, additional_headers={"Authorization": f"Bearer {token}"}) as ws:
            await ws.send(orjson.dumps({"type": "subscribe", "plan_id": plan_id, "after": last_seq}).decode())
            assert orjson.loads(await asyncio.wait_for(ws.recv(), 10))["type"] == "subscribed"
            as_user = ["--as", username]
            env = {
                **os.environ,
                "CARETEAM_DATABASE_URL": clinic.db_url,
                "CARETEAM_BROKER_URL": broker_url,
            }
            done = await asyncio.to_thread(
                subprocess.run,
                [sys.executable, "-m", "careteam", "task", "set-status", str(task_id), "accepted", *as_user],
                cwd=ROOT,
                env=env,
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )
            exited = time.monotonic()
            assert done.returncode == 0, done.stdout + done.stderr
            assert f"task {task_id}: accepted (version 2)" in done.stdout
            while True:
                # Within 1 s of the command's exit (it published before exiting); heartbeats are skipped.
                frame = orjson.loads(
                    await asyncio.wait_for(ws.recv(), max(0.0, exited + 1.0 - time.monotonic()))
                )
                if frame["type"] != "heartbeat":
                    break
        assert frame["type"] == "event" and frame["plan_id"] == plan_id, frame
        assert frame["seq"] == last_seq + 1 and frame["kind"] == "task.moved"
        assert frame["data"]["id"] == task_id and frame["data"]["status"] == "accepted"
    finally:
        server.stop()


async def test_a_scheduled_jobs_write_reaches_a_viewer_on_another_process(clinic: Clinic) -> None:
    """A job run by this process's runner (on a test clock) changes a task; a viewer on a server process
    gets it with the next seq, through Redis, as promptly as a route's write."""
    plan_id, username = next(iter(clinic.plans.items()))
    server = Server(clinic.db_url, REDIS_URL, CARETEAM_WS_SWEEP_SECONDS="3600")
    engine = make_engine(clinic.db_url)
    broker = make_broker(REDIS_URL)
    runner: Runner | None = None
    try:
        await server.ready()
        token = await _token(server.base, username)
        headers = {"Authorization": f"Bearer {token}"}
        async with httpx.AsyncClient(base_url=server.base, timeout=10) as client:
            r = await client.post(
                f"/api/v1/plans/{plan_id}/tasks",
                json={"title": "UDS due", "discipline": "nurse"},
                headers=headers,
            )
            assert r.status_code == 201, r.text
            task_id = r.json()["id"]
            last_seq = (await client.get(f"/api/v1/plans/{plan_id}", headers=headers)).json()["last_seq"]

        async def accept_the_task(session: Any, *, now: datetime) -> None:
            user = (await session.exec(select(User).where(User.username == username))).one()
            await tasks.update_task(
                session,
                task_id,
                TaskUpdate(status=TaskStatus.accepted),
                expected_version=1,
                actor=actor_of(user),
            )

        jobs = Registry()
        jobs.add("test.accept", accept_the_task, every=timedelta(hours=1))
        await broker.start()
        await asyncio.wait_for(broker.connected.wait(), 10)  # type: ignore[attr-defined]
        sessions = make_sessionmaker(engine, info={events.PUBLISHER: Publisher(broker)})
        clock = ManualClock(datetime(2026, 12, 1, 8, 0, tzinfo=UTC))
        runner = Runner(sessions, jobs, clock=clock, poll_seconds=1)
        await runner.start()
        async with asyncio.timeout(10):
            await runner.polled(1)  # declared: due an hour from now
        url = server.base.replace("http", "ws") + "/ws"
        async with connect(url, additional_headers=headers) as ws:
            await ws.send(orjson.dumps({"type": "subscribe", "plan_id": plan_id, "after": last_seq}).decode())
            assert orjson.loads(await asyncio.wait_for(ws.recv(), 10))["type"] == "subscribed"
            polls = runner.polls
            clock.advance(timedelta(hours=1))
            async with asyncio.timeout(10):
                await runner.polled(polls + 1)  # the job ran and committed
            ran = time.monotonic()
            while True:
                frame = orjson.loads(
                    await asyncio.wait_for(ws.recv(), max(0.0, ran + 1.0 - time.monotonic()))
                )
                if frame["type"] != "heartbeat":
                    break
        assert (frame["type"], frame["seq"], frame["kind"]) == ("event", last_seq + 1, "task.moved")
        assert frame["data"]["id"] == task_id and frame["data"]["status"] == "accepted"
    finally:
        if runner is not None:
            await runner.stop()
        await broker.stop()
        await engine.dispose()
        server.stop()
