"""The peers, in the same run as careteam and fed by the same load generator:

- ``floor``: a bare ``websockets`` server (``peers/floor.py``): no HTTP, no database, ``broadcast()``.
- ``channels``: Django + Channels on daphne with channels-redis (``peers/django_peer``).
- ``socketio``: python-socketio on uvicorn with asyncpg (``peers/sio_app.py``).

Django and Socket.IO are installed from the package index into their own virtual environment,
``scripts/bench/.peers-venv`` (git-ignored), by :func:`ensure_venv`; the floor runs in careteam's own
environment (it needs only ``websockets`` and ``orjson``), so it is always available, offline too.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import subprocess
import sys
import time
from pathlib import Path

from common import BENCH, HOST, PEERS_DIR, REDIS_URL, free_port, say
from systems import Layout, System, pg_url, ready, spawn

VENV = BENCH / ".peers-venv"
REQUIREMENTS = PEERS_DIR / "requirements.txt"
# Named after the run's own database (BENCH_DB), so two runs on one server never drop each other's.
_DB = os.environ.get("BENCH_DB", "careteam_bench")
PEER_DBS = {"channels": f"{_DB}_channels", "socketio": f"{_DB}_sio"}
CHANNELS_REDIS = REDIS_URL.rsplit("/", 1)[0] + "/1"

TABLE = """
CREATE TABLE bench_task (
    id integer PRIMARY KEY,
    plan_id integer NOT NULL,
    title text NOT NULL,
    description text NOT NULL DEFAULT '',
    discipline text NOT NULL DEFAULT 'nurse',
    assignee_id integer,
    status text NOT NULL DEFAULT 'requested',
    priority text NOT NULL DEFAULT 'routine',
    due_date date,
    position double precision NOT NULL DEFAULT 0,
    checklist jsonb NOT NULL DEFAULT '[]',
    version integer NOT NULL DEFAULT 1,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX bench_task_plan ON bench_task (plan_id);
"""


def _stamp() -> str:
    return hashlib.sha256(REQUIREMENTS.read_bytes() + sys.version.encode()).hexdigest()[:16]


def venv_python() -> Path:
    return VENV / "bin" / "python"


def venv_ready() -> bool:
    stamp = VENV / ".bench-stamp"
    return venv_python().exists() and stamp.exists() and stamp.read_text().strip() == _stamp()


def ensure_venv(*, build: bool, timeout: float = 600.0) -> tuple[bool, str]:
    """(ready, how): the peers' virtual environment, built if missing and ``build`` is true."""
    if venv_ready():
        return True, f"{VENV.relative_to(BENCH.parent.parent)} (cached)"
    if not build:
        return False, "the peers' virtual environment is not built (run the full mode, or --build-peers)"
    say(f"building the peers' virtual environment in {VENV} (pip install -r {REQUIREMENTS.name}) ...")
    t0 = time.monotonic()
    try:
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(VENV)], check=True, timeout=120)
        subprocess.run(
            [
                str(venv_python()),
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "-r",
                str(REQUIREMENTS),
            ],
            check=True,
            timeout=timeout,
        )
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as exc:
        return False, f"could not build the peers' environment (offline?): {exc}"
    (VENV / ".bench-stamp").write_text(_stamp())
    return True, f"built in {time.monotonic() - t0:.0f} s"


def versions() -> dict[str, str]:
    """Versions of the peers' main libraries, from their environment."""
    if not venv_python().exists():
        return {}
    code = (
        "import importlib.metadata as m\n"
        "for n in ('Django','channels','daphne','channels-redis','Twisted','python-socketio',"
        "'python-engineio','uvicorn','websockets','psycopg','asyncpg'):\n"
        "    try: print(n, m.version(n))\n"
        "    except Exception: pass\n"
    )
    out = subprocess.run([str(venv_python()), "-c", code], capture_output=True, text=True, timeout=60)
    return dict(line.split(" ", 1) for line in out.stdout.splitlines() if " " in line)


# --- Databases ------------------------------------------------------------------------------------------


async def seed_peer_db(name: str, layout: Layout) -> None:
    """The peer's tiny tasks table, with the same plan and task ids as careteam's bench database."""
    import asyncpg
    from systems import fresh_pg_database

    await fresh_pg_database(name)
    conn = await asyncpg.connect(pg_url(name, driver="postgresql"))
    try:
        await conn.execute(TABLE)
        rows = [
            (t, p, f"Lane {k}", 1024.0 * (k + 1)) for p, ts in layout.lanes.items() for k, t in enumerate(ts)
        ]
        await conn.executemany(
            "INSERT INTO bench_task (id, plan_id, title, position) VALUES ($1, $2, $3, $4)", rows
        )
    finally:
        await conn.close()


async def _clear_channels_redis() -> None:
    import redis.asyncio as aioredis

    client = aioredis.from_url(CHANNELS_REDIS)
    try:
        keys = [k async for k in client.scan_iter(match="bench-channels:*", count=1000)]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


# --- Servers ----------------------------------------------------------------------------------------------


def start_floor(layout: Layout, cpus: frozenset[int]) -> System:
    port = free_port()
    proc, log = spawn(
        [sys.executable, str(PEERS_DIR / "floor.py"), "--port", str(port)],
        env=dict(os.environ),
        cwd=PEERS_DIR,
        cpus=cpus,
        name="floor",
    )
    ready([proc], [port], [log], "floor")
    return System(
        name="floor",
        procs=[proc],
        ports=[port],
        ws_mode="json",
        ws_path="/",
        write_kind="ws",
        layout=_peer_layout(layout),
        logs=[log],
        notes="websockets.broadcast(); a write is a websocket message (no HTTP, no database)",
    )


def _peer_layout(layout: Layout) -> Layout:
    return Layout(
        layout.fanout_plan,
        layout.write_plans,
        layout.lanes,
        versions={t: 1 for ts in layout.lanes.values() for t in ts},
    )


def start_channels(layout: Layout, cpus: frozenset[int]) -> System:
    asyncio.run(seed_peer_db(PEER_DBS["channels"], layout))
    asyncio.run(_clear_channels_redis())
    port = free_port()
    env = {
        **os.environ,
        "PYTHONPATH": str(PEERS_DIR),
        "DJANGO_SETTINGS_MODULE": "django_peer.settings",
        "BENCH_PEER_DSN": pg_url(PEER_DBS["channels"], driver="postgresql"),
        "BENCH_PEER_REDIS": CHANNELS_REDIS,
    }
    proc, log = spawn(
        [str(VENV / "bin" / "daphne"), "-b", HOST, "-p", str(port), "django_peer.asgi:application"],
        env=env,
        cwd=PEERS_DIR,
        cpus=cpus,
        name="channels",
    )
    ready([proc], [port], [log], "channels")
    return System(
        name="channels",
        procs=[proc],
        ports=[port],
        ws_mode="json",
        ws_path="/ws",
        write_kind="http",
        layout=_peer_layout(layout),
        logs=[log],
        notes="daphne + Django async view (aupdate) + channels-redis group_send, PostgreSQL via psycopg",
    )


def start_socketio(layout: Layout, cpus: frozenset[int]) -> System:
    asyncio.run(seed_peer_db(PEER_DBS["socketio"], layout))
    port = free_port()
    env = {**os.environ, "BENCH_PEER_DSN": pg_url(PEER_DBS["socketio"], driver="postgresql")}
    proc, log = spawn(
        [
            str(venv_python()),
            "-m",
            "uvicorn",
            "sio_app:app",
            "--host",
            HOST,
            "--port",
            str(port),
            "--app-dir",
            str(PEERS_DIR),
            "--ws",
            "websockets-sansio",
            "--ws-per-message-deflate",
            "false",
            "--backlog",
            "4096",
        ],
        env=env,
        cwd=PEERS_DIR,
        cpus=cpus,
        name="socketio",
    )
    ready([proc], [port], [log], "socketio")
    return System(
        name="socketio",
        procs=[proc],
        ports=[port],
        ws_mode="sio",
        ws_path="/socket.io/?EIO=4&transport=websocket",
        write_kind="http",
        layout=_peer_layout(layout),
        logs=[log],
        notes="uvicorn + python-socketio AsyncServer emit(room) + asyncpg",
    )


async def drop_peer_dbs() -> None:
    from systems import drop_pg_database

    for name in PEER_DBS.values():
        await drop_pg_database(name)
