"""The floor: a bare ``websockets`` server, no HTTP and no database.

Viewers send ``{"type": "subscribe", "plan_id": P}`` and get ``{"type": "subscribed"}``. A writer sends
``{"type": "write", "plan_id": P, "task_id": T, "title": "..."}``: the server bumps the task's version in a
dict, encodes the event once (orjson) and hands the same frame to every viewer of the plan with
``websockets.broadcast()`` (written straight to each transport: no task and no await per viewer), then
answers the writer ``{"type": "ack"}``.

    python floor.py --port 8765
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import signal

import orjson
from websockets.asyncio.server import ServerConnection, broadcast, serve
from websockets.exceptions import ConnectionClosed

VIEWERS: dict[int, set[ServerConnection]] = {}
TASKS: dict[int, dict[str, object]] = {}


def _task(task_id: int, plan_id: int) -> dict[str, object]:
    task = TASKS.get(task_id)
    if task is None:
        now = dt.datetime.now(dt.UTC).isoformat()
        task = TASKS[task_id] = {
            "id": task_id,
            "plan_id": plan_id,
            "title": "",
            "description": "",
            "discipline": "nurse",
            "assignee_id": None,
            "status": "requested",
            "priority": "routine",
            "due_date": None,
            "position": 1024.0,
            "checklist": [],
            "version": 1,
            "created_at": now,
            "updated_at": now,
        }
    return task


async def handler(ws: ServerConnection) -> None:
    plans: set[int] = set()
    try:
        async for raw in ws:
            msg = orjson.loads(raw)
            kind = msg.get("type")
            if kind == "subscribe":
                plan_id = int(msg["plan_id"])
                VIEWERS.setdefault(plan_id, set()).add(ws)
                plans.add(plan_id)
                await ws.send(orjson.dumps({"type": "subscribed", "plan_id": plan_id}).decode())
            elif kind == "write":
                plan_id, task_id = int(msg["plan_id"]), int(msg["task_id"])
                task = _task(task_id, plan_id)
                task["title"] = msg["title"]
                task["version"] = int(task["version"]) + 1  # type: ignore[call-overload]
                task["updated_at"] = dt.datetime.now(dt.UTC).isoformat()
                seq = task["version"]
                frame = orjson.dumps(
                    {
                        "type": "event",
                        "plan_id": plan_id,
                        "seq": seq,
                        "kind": "task.updated",
                        "data": task,
                        "actor_id": 1,
                        "at": task["updated_at"],
                    }
                ).decode()
                broadcast(VIEWERS.get(plan_id, ()), frame)
                await ws.send('{"type":"ack"}')
    except ConnectionClosed:
        pass  # the load generator drops its sockets at the end of a run
    finally:
        for plan_id in plans:
            VIEWERS.get(plan_id, set()).discard(ws)


async def main(port: int) -> None:
    stop = asyncio.get_running_loop().create_future()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set_result, None)
    async with serve(
        handler, "127.0.0.1", port, compression=None, ping_interval=None, max_queue=None, backlog=4096
    ):
        await stop


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    try:
        import uvloop
    except ImportError:
        asyncio.run(main(args.port))
    else:
        uvloop.run(main(args.port))
