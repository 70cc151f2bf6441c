"""The python-socketio peer (served by uvicorn): write the row, then emit to the plan's room.

Viewers connect over a websocket (``/socket.io/?EIO=4&transport=websocket``), emit ``subscribe {plan_id}``,
join the room ``plan:<id>`` and get ``subscribed``. ``PATCH /api/v1/tasks/{id}`` with ``If-Match: W/"<v>"``
and ``{"title": ...}`` updates the row in PostgreSQL (asyncpg; 412 on a stale version), then
``sio.emit("event", frame, room=...)``, then answers the task with its ETag. No authentication.

    BENCH_PEER_DSN=postgresql://... uvicorn sio_app:app --port 8766
"""

from __future__ import annotations

import os
import re
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import orjson
import socketio
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

DSN = os.environ["BENCH_PEER_DSN"]
ETAG = re.compile(r'^\s*(?:W/)?"(\d{1,9})"\s*$')
UPDATE = """
UPDATE bench_task SET title = $1, version = version + 1, updated_at = now()
WHERE id = $2 AND version = $3
RETURNING id, plan_id, title, description, discipline, assignee_id, status, priority, due_date, position,
          checklist, version, created_at, updated_at
"""

sio = socketio.AsyncServer(async_mode="asgi", cors_allowed_origins=[])
pool: asyncpg.Pool | None = None


@sio.event
async def subscribe(sid: str, data: dict[str, Any]) -> None:
    plan_id = int(data["plan_id"])
    await sio.enter_room(sid, f"plan:{plan_id}")
    await sio.emit("subscribed", {"plan_id": plan_id}, to=sid)


def _json(row: asyncpg.Record) -> dict[str, Any]:
    """The row as JSON types (dates as ISO strings), as an API would answer it."""
    task = dict(row)
    task["checklist"] = orjson.loads(task["checklist"])
    parsed: dict[str, Any] = orjson.loads(orjson.dumps(task))
    return parsed


async def patch_task(request: Request) -> Response:
    task_id = int(request.path_params["task_id"])
    m = ETAG.match(request.headers.get("if-match", ""))
    if m is None:
        return Response(status_code=428)
    body = orjson.loads(await request.body())
    assert pool is not None
    async with pool.acquire() as conn:
        row = await conn.fetchrow(UPDATE, body["title"], task_id, int(m.group(1)))
    if row is None:
        return Response(status_code=412)
    task = _json(row)
    await sio.emit(
        "event",
        {
            "type": "event",
            "plan_id": task["plan_id"],
            "seq": task["version"],
            "kind": "task.updated",
            "data": task,
            "actor_id": 1,
            "at": task["updated_at"],
        },
        room=f"plan:{task['plan_id']}",
    )
    return Response(
        orjson.dumps(task), media_type="application/json", headers={"ETag": f'W/"{task["version"]}"'}
    )


@asynccontextmanager
async def lifespan(_app: Starlette) -> Any:
    global pool
    pool = await asyncpg.create_pool(DSN, min_size=2, max_size=20)
    try:
        yield
    finally:
        await pool.close()


web = Starlette(
    routes=[Route("/api/v1/tasks/{task_id:int}", patch_task, methods=["PATCH"])], lifespan=lifespan
)
app = socketio.ASGIApp(sio, other_asgi_app=web)
