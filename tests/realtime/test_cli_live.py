"""A write from outside any server (the ``careteam task set-status`` command) reaches live viewers.

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

import httpx
import orjson
import pytest
from websockets.asyncio.client import connect

from tests.realtime.test_multiprocess import REDIS_URL, ROOT, Clinic, Server, _clinic, _token

pytestmark = pytest.mark.postgres


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
