"""Systems under test: careteam servers (``python -m careteam serve``) and their bench databases.

A ``System`` is what the load generator needs to know about a running server: ports, how viewers
subscribe, how writes are sent, which processes to measure, and the current version of each lane's task.
The peers (``peers.py``) return the same object.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from common import HOST, PG_ADMIN_URL, ROOT, descendants, free_port, pin, rss_bytes, say, wait_port

SECRET = "bench-secret-key-0123456789abcdef-0123456789"
BENCH_USER = "bench_nurse"
BENCH_PASSWORD = "bench password 0123"

# The realtime knobs every careteam server of the run gets, set explicitly and printed.
CARETEAM_KNOBS = {
    "CARETEAM_WS_QUEUE_SIZE": "256",
    "CARETEAM_WS_MAX_FRAME_BYTES": "65536",
    "CARETEAM_WS_HEARTBEAT_SECONDS": "30",
    "CARETEAM_WS_ACCESS_RECHECK_SECONDS": "3",
    "CARETEAM_REPLAY_WINDOW": "1000",
    "CARETEAM_SQL_ECHO": "false",
}


def pg_url(db: str, *, driver: str = "postgresql+asyncpg") -> str:
    base = PG_ADMIN_URL.rsplit("/", 1)[0].split("://", 1)[1]
    return f"{driver}://{base}/{db}"


@dataclass
class Layout:
    """The plans and lane tasks of a bench database (the same ids in careteam's and the peers' tables)."""

    fanout_plan: int
    write_plans: list[int]
    lanes: dict[int, list[int]]  # plan id -> task ids, one per writer lane
    token: str = ""
    cookie: str = ""
    user_id: int = 0
    versions: dict[int, int] = field(default_factory=dict)


@dataclass
class System:
    name: str
    procs: list[subprocess.Popen[bytes]]
    ports: list[int]
    ws_mode: str = "json"  # "json" (careteam-style frames) or "sio" (Socket.IO)
    ws_path: str = "/ws"
    ws_headers: list[tuple[str, str]] = field(default_factory=list)
    write_kind: str = "http"  # "http": PATCH /api/v1/tasks/{id}; "ws": the floor's write message
    http_headers: list[tuple[str, str]] = field(default_factory=list)
    layout: Layout | None = None
    last_seq: Callable[[int], int] | None = None  # careteam: subscribe after the plan's last seq
    logs: list[Path] = field(default_factory=list)
    notes: str = ""
    problems: list[str] = field(default_factory=list)

    @property
    def pids(self) -> list[int]:
        return [p for proc in self.procs for p in descendants(proc.pid)]

    def rss(self) -> int:
        return sum(rss_bytes(p) for p in self.pids)

    def alive(self) -> bool:
        return all(p.poll() is None for p in self.procs)

    def log_tail(self, chars: int = 2000) -> str:
        out = []
        for path in self.logs:
            with contextlib.suppress(OSError):
                out.append(path.read_text(errors="replace")[-chars:])
        return "\n".join(out)

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        for path in self.logs:
            with contextlib.suppress(OSError):
                text = path.read_text(errors="replace")
                at = text.find("Traceback")
                if at >= 0:
                    self.problems.append(text[at : at + 3000])
            path.unlink(missing_ok=True)
        if self.problems:
            say(f"    {self.name} logged {len(self.problems)} traceback(s); the first:\n{self.problems[0]}")


def ready(procs: list[subprocess.Popen[bytes]], ports: list[int], logs: list[Path], name: str) -> None:
    """Wait until every process listens; if one dies or hangs, kill them all and show its output."""
    try:
        for proc, port in zip(procs, ports, strict=True):
            wait_port(port, lambda proc=proc: proc.poll() is None)
    except BaseException as exc:
        for proc in procs:
            proc.kill()
            proc.wait(5)
        tail = "\n".join(p.read_text(errors="replace")[-1500:] for p in logs if p.exists())
        for path in logs:
            path.unlink(missing_ok=True)
        raise RuntimeError(f"{name} did not start: {exc}\n{tail}") from exc


def spawn(
    argv: list[str], *, env: dict[str, str], cwd: Path, cpus: frozenset[int], name: str
) -> tuple[subprocess.Popen[bytes], Path]:
    """A server process pinned to ``cpus`` from its first instruction, output to a log file."""
    fd, path = tempfile.mkstemp(prefix=f"bench-{name}-", suffix=".log")
    log: TextIO = os.fdopen(fd, "w")
    proc = subprocess.Popen(
        argv, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT, preexec_fn=lambda: pin(cpus)
    )
    log.close()
    return proc, Path(path)


# --- Databases ------------------------------------------------------------------------------------------


async def fresh_pg_database(name: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(PG_ADMIN_URL)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


async def drop_pg_database(name: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(PG_ADMIN_URL)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


async def seed_careteam(db_url: str, *, write_plans: int, lanes: int, write_lanes: int) -> Layout:
    """A clinic for the benchmark through careteam's own tables and session code: one nurse on one
    patient's care team; a case-conference plan with ``lanes`` tasks; ``write_plans`` plans with
    ``write_lanes`` tasks each; a bearer token and a cookie session for the nurse."""
    from careteam.accounts.passwords import hash_password
    from careteam.accounts.sessions import open_session
    from careteam.accounts.tables import User
    from careteam.core.vocab import Discipline
    from careteam.db import migrate
    from careteam.db.engine import make_engine, make_sessionmaker, unit_of_work
    from careteam.patients.codes import TeamRole
    from careteam.patients.tables import CareTeam, CareTeamMember, Patient
    from careteam.plans.tables import CarePlan, Task
    from careteam.settings import Settings

    await asyncio.to_thread(migrate.upgrade, db_url)
    engine = make_engine(db_url)
    settings = Settings(database_url=db_url, secret_key=SECRET)
    try:
        async with unit_of_work(make_sessionmaker(engine)) as s:
            user = User(
                username=BENCH_USER,
                display_name="Bench Nurse, RN",
                discipline=Discipline.nurse,
                role="clinician",
                password_hash=hash_password(BENCH_PASSWORD),
                active=True,
            )
            s.add(user)
            await s.flush()
            from datetime import date

            patient = Patient(mrn="BENCH-0001", name="Bench Patient", birth_date=date(1970, 1, 1))
            s.add(patient)
            await s.flush()
            team = CareTeam(patient_id=patient.id or 0, name="Bench care team")
            s.add(team)
            await s.flush()
            s.add(
                CareTeamMember(
                    team_id=team.id or 0,
                    user_id=user.id or 0,
                    role=TeamRole.lead,
                    discipline=Discipline.nurse,
                )
            )
            plan_ids: list[int] = []
            for i in range(1 + write_plans):
                plan = CarePlan(patient_id=patient.id or 0, title=f"Bench plan {i}", status="active")
                s.add(plan)
                await s.flush()
                plan_ids.append(plan.id or 0)
            task_ids: dict[int, list[int]] = {}
            for i, plan_id in enumerate(plan_ids):
                rows = [
                    Task(
                        plan_id=plan_id,
                        title=f"Lane {k}",
                        discipline=Discipline.nurse,
                        position=1024.0 * (k + 1),
                    )
                    for k in range(lanes if i == 0 else write_lanes)
                ]
                s.add_all(rows)
                await s.flush()
                task_ids[plan_id] = [t.id or 0 for t in rows]
            token = await open_session(s, user, kind="bearer", settings=settings)
            cookie = await open_session(s, user, kind="cookie", settings=settings)
            user_id = user.id or 0
    finally:
        await engine.dispose()
    layout = Layout(plan_ids[0], plan_ids[1:], task_ids, token.secret, cookie.secret, user_id)
    layout.versions = {t: 1 for ts in task_ids.values() for t in ts}
    return layout


async def last_seq(db_url: str, plan_id: int) -> int:
    from careteam.db.engine import make_engine, make_sessionmaker
    from careteam.events import log, streams

    engine = make_engine(db_url)
    try:
        async with make_sessionmaker(engine)() as session:
            return await log.last_seq(session, streams.plan(plan_id))
    finally:
        await engine.dispose()


# --- careteam servers --------------------------------------------------------------------------------------


def careteam_env(db_url: str, broker_url: str, port: int) -> dict[str, str]:
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("CARETEAM_")},
        "CARETEAM_DATABASE_URL": db_url,
        "CARETEAM_BROKER_URL": broker_url,
        "CARETEAM_SECRET_KEY": SECRET,
        "CARETEAM_ALLOWED_ORIGINS": f"http://{HOST}:{port}",
        **CARETEAM_KNOBS,
    }


def start_careteam(
    name: str, db_url: str, broker_url: str, layout: Layout, cpus: frozenset[int], *, processes: int = 1
) -> System:
    """``processes`` separate ``python -m careteam serve`` processes on their own ports (one database)."""
    procs, ports, logs = [], [], []
    try:
        for i in range(processes):
            port = free_port()
            proc, log = spawn(
                [sys.executable, "-m", "careteam", "serve", "--host", HOST, "--port", str(port)],
                env=careteam_env(db_url, broker_url, port),
                cwd=ROOT,
                cpus=cpus,
                name=f"{name}-{i}",
            )
            procs.append(proc)
            ports.append(port)
            logs.append(log)
    except BaseException:
        for proc in procs:
            proc.kill()
        raise
    ready(procs, ports, logs, name)
    auth = [("Authorization", f"Bearer {layout.token}")]

    def seq(plan_id: int) -> int:
        return asyncio.run(last_seq(db_url, plan_id))

    return System(
        name=name,
        procs=procs,
        ports=ports,
        ws_mode="json",
        ws_path="/ws",
        ws_headers=auth,
        write_kind="http",
        http_headers=auth,
        layout=layout,
        last_seq=seq,
        logs=logs,
    )


def describe_env() -> dict[str, Any]:
    return dict(CARETEAM_KNOBS)
