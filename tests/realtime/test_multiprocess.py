"""Several server processes on one PostgreSQL: every viewer gets every event of its plans, whichever process
served the write; a broker outage or a killed worker loses nothing.

Real processes (``python -m careteam serve``), real PostgreSQL, real Redis; runs when both
CARETEAM_TEST_DATABASE_URL and CARETEAM_TEST_REDIS_URL are set (.ci/run sets them).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from sqlalchemy import text
from sqlmodel import col, select
from websockets.asyncio.client import connect
from websockets.exceptions import WebSocketException

from careteam.core.vocab import Discipline
from careteam.db import migrate
from careteam.db.engine import make_engine, make_sessionmaker, unit_of_work
from careteam.events.tables import StreamEvent
from careteam.patients.codes import TeamRole
from careteam.plans.tables import CarePlan, Task
from tests.conftest import PG_ADMIN_URL, run_database, run_database_url
from tests.factories import PASSWORD, make_patient, make_plan, make_user, of_plan

REDIS_URL = os.environ.get("CARETEAM_TEST_REDIS_URL", "")
ROOT = Path(__file__).resolve().parents[2]

pytestmark = [
    pytest.mark.postgres,
    # Alone: real server processes, 1000 writes to 50 viewers; and the Redis channels (careteam:plan:<id>) are
    # the server's, with plan ids from this database's sequences: another worker's plan 1 is the same channel.
    pytest.mark.alone,
    pytest.mark.skipif(
        not (PG_ADMIN_URL and REDIS_URL), reason="needs CARETEAM_TEST_DATABASE_URL and _REDIS_URL"
    ),
]

PLANS_PER_TEAM = 5
VIEWERS = 50
WRITES = 1000
WRITES_DURING_OUTAGE = 100


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Clinic:
    db_url: str
    plans: dict[int, str]  # plan id -> username of a team member who may read and write it
    other_team_plan: dict[int, int]  # plan id -> a plan of the other team


async def _fresh_database(label: str) -> str:
    """A database of this run's own (dropped with the run), migrated to head."""
    name = run_database(label)
    admin = make_engine(PG_ADMIN_URL)
    async with admin.connect() as conn:
        conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await conn.execute(text(f'CREATE DATABASE "{name}"'))
    await admin.dispose()
    url = run_database_url(label)
    await asyncio.to_thread(migrate.upgrade, url)
    return url


async def _clinic(name: str) -> Clinic:
    url = await _fresh_database(name)
    engine = make_engine(url)
    plans: dict[int, str] = {}
    teams: list[list[int]] = [[], []]
    async with unit_of_work(make_sessionmaker(engine)) as s:
        for t in range(2):
            nurse = await make_user(s, f"nurse_{t}", discipline=Discipline.nurse)
            for _ in range(PLANS_PER_TEAM):
                patient = await make_patient(s, members=[(nurse, TeamRole.lead)])
                plan = await make_plan(s, patient)
                plans[plan.id or 0] = nurse.username
                teams[t].append(plan.id or 0)
    await engine.dispose()
    other = {p: teams[1 - i][0] for i, team in enumerate(teams) for p in team}
    return Clinic(url, plans, other)


class Server:
    """``python -m careteam serve`` in its own process."""

    def __init__(self, db_url: str, broker_url: str, **env: str) -> None:
        self.port = _free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        env = {
            **os.environ,
            "CARETEAM_DATABASE_URL": db_url,
            "CARETEAM_BROKER_URL": broker_url,
            "CARETEAM_SECRET_KEY": "multi-process-test-secret-0123456789abcdef",
            "CARETEAM_ALLOWED_ORIGINS": self.base,
            "CARETEAM_WS_ACCESS_RECHECK_SECONDS": "2",
            **env,
        }
        self.log = tempfile.TemporaryFile()  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "careteam", "serve", "--port", str(self.port)],
            cwd=ROOT,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )

    def output(self) -> str:
        self.log.seek(0)
        return self.log.read().decode(errors="replace")[-3000:]

    async def ready(self) -> None:
        deadline = time.monotonic() + 30
        async with httpx.AsyncClient() as client:
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"server exited: {self.output()}")
                with contextlib.suppress(httpx.TransportError):
                    if (await client.get(f"{self.base}/login")).status_code == 200:
                        return
                await asyncio.sleep(0.1)
        raise TimeoutError("server did not start")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


@contextlib.contextmanager
def _servers(db_url: str, broker_url: str, n: int = 2) -> Iterator[list[Server]]:
    servers = [Server(db_url, broker_url) for _ in range(n)]
    try:
        yield servers
    finally:
        for server in servers:
            server.stop()


async def _token(base: str, username: str) -> str:
    async with httpx.AsyncClient(base_url=base) as client:
        r = await client.post("/api/v1/auth/token", json={"username": username, "password": PASSWORD})
        r.raise_for_status()
        return str(r.json()["access_token"])


@dataclass
class Viewer:
    base: str
    token: str
    plan_id: int
    seqs: list[int] = field(default_factory=list)
    foreign: list[dict[str, Any]] = field(default_factory=list)
    resyncs: int = 0
    denied: bool = False
    task: asyncio.Task[None] | None = None

    async def run(self, probe_plan: int) -> None:
        """Subscribe from the start of the log; on resync or a dropped socket, resume from the last seq."""
        url = self.base.replace("http", "ws") + "/ws"
        while True:
            try:
                async with connect(
                    url,
                    additional_headers={"Authorization": f"Bearer {self.token}"},
                    open_timeout=10,
                    max_size=2**22,
                ) as ws:
                    await ws.send(
                        orjson.dumps({"type": "subscribe", "plan_id": probe_plan, "after": 0}).decode()
                    )
                    after = self.seqs[-1] if self.seqs else 0
                    await ws.send(
                        orjson.dumps({"type": "subscribe", "plan_id": self.plan_id, "after": after}).decode()
                    )
                    async for raw in ws:
                        frame = orjson.loads(raw)
                        kind = frame["type"]
                        if kind == "event":
                            if frame["plan_id"] != self.plan_id:
                                self.foreign.append(frame)
                            else:
                                self.seqs.append(frame["seq"])
                        elif kind == "error" and frame.get("plan_id") == probe_plan:
                            self.denied = frame["code"] == "not_found"
                        elif kind == "resync":
                            self.resyncs += 1
                            break
            except (OSError, TimeoutError, WebSocketException):
                pass  # the socket dropped: resume from the last seq, as the browser does
            await asyncio.sleep(0.2)


async def _viewers(servers: list[Server], clinic: Clinic) -> list[Viewer]:
    tokens: dict[tuple[str, str], str] = {}
    viewers = []
    plan_ids = sorted(clinic.plans)
    for i in range(VIEWERS):
        server = servers[i % len(servers)]
        plan_id = plan_ids[i % len(plan_ids)]
        key = (server.base, clinic.plans[plan_id])
        if key not in tokens:
            tokens[key] = await _token(server.base, clinic.plans[plan_id])
        viewer = Viewer(server.base, tokens[key], plan_id)
        viewer.task = asyncio.create_task(viewer.run(clinic.other_team_plan[plan_id]))
        viewers.append(viewer)
    return viewers


async def _write(
    servers: list[Server],
    clinic: Clinic,
    writes: int,
    *,
    tolerate_errors: bool = False,
    on_commit: Callable[[int], None] | None = None,
) -> int:
    """``writes`` task creations and edits over every plan and server; returns how many committed.

    ``on_commit(n)``: called as the n-th write is answered, at once (before the next await).
    """
    tokens = {(s.base, u): await _token(s.base, u) for s in servers for u in set(clinic.plans.values())}
    committed = 0

    async def plan_writer(plan_id: int, count: int) -> None:
        nonlocal committed
        username = clinic.plans[plan_id]
        task: dict[str, Any] | None = None
        async with httpx.AsyncClient(timeout=10) as client:
            for i in range(count):
                server = servers[(plan_id + i) % len(servers)]
                headers = {"Authorization": f"Bearer {tokens[(server.base, username)]}"}
                try:
                    if task is None:
                        r = await client.post(
                            f"{server.base}/api/v1/plans/{plan_id}/tasks",
                            json={"title": "UDS due", "discipline": "nurse"},
                            headers=headers,
                        )
                    else:
                        r = await client.patch(
                            f"{server.base}/api/v1/tasks/{task['id']}",
                            json={"title": f"UDS due, edit {i}"},
                            headers={**headers, "If-Match": f'W/"{task["version"]}"'},
                        )
                except httpx.TransportError:
                    if not tolerate_errors:
                        raise
                    continue
                if tolerate_errors and r.status_code in (412, 502, 503):
                    task = None if r.status_code != 412 else r.json()["current"]
                    continue
                assert r.status_code in (200, 201), r.text
                task = r.json()
                committed += 1
                if on_commit is not None:
                    on_commit(committed)

    per_plan = writes // len(clinic.plans)
    await asyncio.gather(*(plan_writer(p, per_plan) for p in clinic.plans))
    return committed


async def _last_seqs(db_url: str) -> dict[int, int]:
    engine = make_engine(db_url)
    async with make_sessionmaker(engine)() as s:
        rows = (await s.exec(select(CarePlan.id, CarePlan.last_seq))).all()
    await engine.dispose()
    return {int(i or 0): int(seq) for i, seq in rows}


async def _all_caught_up(viewers: list[Viewer], db_url: str, seconds: float) -> dict[int, int]:
    deadline = time.monotonic() + seconds
    last = await _last_seqs(db_url)
    while time.monotonic() < deadline:
        if all(v.seqs and v.seqs[-1] == last[v.plan_id] for v in viewers):
            return last
        await asyncio.sleep(0.1)
    behind = [
        (v.plan_id, v.seqs[-1] if v.seqs else 0, last[v.plan_id])
        for v in viewers
        if not v.seqs or v.seqs[-1] != last[v.plan_id]
    ]
    pytest.fail(f"{len(behind)} viewers behind after {seconds}s (plan, seen, last): {behind[:5]}")


def _assert_complete(viewers: list[Viewer], last: dict[int, int]) -> None:
    for v in viewers:
        assert v.seqs == list(range(1, last[v.plan_id] + 1)), (v.plan_id, v.seqs[:10])
        assert v.foreign == []
        assert v.denied, "a subscription to the other team's plan must be refused"


async def _stop(viewers: list[Viewer]) -> None:
    for v in viewers:
        assert v.task is not None
        v.task.cancel()
    for v in viewers:
        with contextlib.suppress(asyncio.CancelledError):
            await v.task  # type: ignore[misc]


@pytest.fixture
async def clinic() -> AsyncIterator[Clinic]:
    yield await _clinic("multiprocess")


@pytest.mark.parametrize("broker", ["redis", "postgres"])
async def test_two_processes_deliver_every_event_to_every_viewer(broker: str, clinic: Clinic) -> None:
    broker_url = REDIS_URL if broker == "redis" else clinic.db_url.replace("+asyncpg", "")
    with _servers(clinic.db_url, broker_url) as servers:
        await asyncio.gather(*(s.ready() for s in servers))
        viewers = await _viewers(servers, clinic)
        committed = await _write(servers, clinic, WRITES)
        assert committed == WRITES
        last = await _all_caught_up(viewers, clinic.db_url, seconds=30)
        await _stop(viewers)
    assert sum(last.values()) == WRITES
    _assert_complete(viewers, last)


def _outage_port() -> int:
    """A free port below the kernel's ephemeral range: while our Redis is down for the outage, no outgoing
    connection (nor another test's ``_free_port()``) can be given it, so the restart gets it back."""
    low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    for _ in range(100):
        port = random.randint(10_000, low - 1)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port for a private redis-server")


class PrivateRedis:
    """A ``redis-server`` of this test's own, so stopping it breaks no other run using the shared one."""

    def __init__(self, directory: Path) -> None:
        self.port = _outage_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._dir = directory
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self._proc = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self._dir),
                "--logfile",
                str(self._dir / "redis.log"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 30
        while not self._answers():
            if self._proc.poll() is not None or time.monotonic() > deadline:
                log = (self._dir / "redis.log").read_text(errors="replace")[-2000:]
                self.stop()
                raise RuntimeError(f"redis-server on port {self.port} did not come up:\n{log}")
            time.sleep(0.1)

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()  # with --save "": exits at once, saving nothing
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def _answers(self) -> bool:
        ping = subprocess.run(
            ["redis-cli", "-p", str(self.port), "ping"], capture_output=True, timeout=5, check=False
        )
        return ping.stdout.strip() == b"PONG"


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    redis = PrivateRedis(tmp_path)
    redis.start()
    try:
        yield redis
    finally:
        redis.stop()


async def test_redis_outage_loses_nothing(clinic: Clinic, private_redis: PrivateRedis) -> None:
    """Redis stopped for 10 s during writes: writes still commit, and every viewer catches up after."""
    with _servers(clinic.db_url, private_redis.url) as servers:
        await asyncio.gather(*(s.ready() for s in servers))
        viewers = await _viewers(servers, clinic)
        writing_started = asyncio.Event()
        writing = asyncio.create_task(
            _write(servers, clinic, WRITES, on_commit=lambda _n: writing_started.set())
        )
        await asyncio.wait_for(writing_started.wait(), 30)  # the outage starts in the middle of the writes
        await asyncio.to_thread(private_redis.stop)
        try:
            # Writes made while it is down, known to be: they must all commit. Down for 10 s at least, so
            # the brokers back off to their longest retry interval.
            during, _ = await asyncio.gather(_write(servers, clinic, WRITES_DURING_OUTAGE), asyncio.sleep(10))
        finally:
            await asyncio.to_thread(private_redis.start)
        assert during == WRITES_DURING_OUTAGE, "writes must keep committing while the broker is down"
        assert await writing == WRITES
        last = await _all_caught_up(viewers, clinic.db_url, seconds=30)
        await _stop(viewers)
    _assert_complete(viewers, last)


async def test_sigkill_during_writes_leaves_a_consistent_log(clinic: Clinic) -> None:
    """A worker killed mid-write: every committed change has its events, no event for what rolled back."""
    with _servers(clinic.db_url, REDIS_URL, n=1) as (server,):
        await server.ready()
        # Killed at a random point, but always in the middle: once a random number of writes (at most half)
        # are answered, while at most one more per plan can be on its way.
        kill_after = random.randint(1, WRITES // 2)

        def kill(committed: int) -> None:
            if committed == kill_after:
                server.proc.send_signal(signal.SIGKILL)

        committed_seen = await _write([server], clinic, WRITES, tolerate_errors=True, on_commit=kill)
        server.proc.wait()
    assert committed_seen < WRITES, "the kill should interrupt the writes"
    engine = make_engine(clinic.db_url)
    async with make_sessionmaker(engine)() as s:
        plans = (await s.exec(select(CarePlan))).all()
        for plan in plans:
            seqs = (
                await s.exec(select(StreamEvent.seq).where(*of_plan(plan.id)).order_by(col(StreamEvent.seq)))
            ).all()
            assert list(seqs) == list(range(1, plan.last_seq + 1))
        tasks = (await s.exec(select(Task))).all()
        for task in tasks:
            events = (
                await s.exec(select(StreamEvent).where(*of_plan(task.plan_id)).order_by(col(StreamEvent.seq)))
            ).all()
            mine = [e for e in events if e.data.get("id") == task.id]
            # One event per committed version, and the last one is the row as stored.
            assert [e.data["version"] for e in mine] == list(range(1, task.version + 1))
            assert mine[-1].data["title"] == task.title
    await engine.dispose()
    assert sum(p.last_seq for p in plans) >= committed_seen
