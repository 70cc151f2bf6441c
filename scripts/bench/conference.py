"""Part 7: a case conference's fan-out (#14), beside the same viewers on the boards alone, in one run.

A clinic of its own in the bench database: an IPM lead on one patient's care team, two plans on the agenda
(one task each), and ``observers`` trainees off the care team, each with ``viewers // observers`` sockets
(a room's wall screen, laptops, remote screens). Two windows, each on a fresh server:

- *conference*: every viewer subscribes to ``conference:<id>`` and to both agenda plans (lent to them for
  the conference's window); the lead sends ``events`` writes at ``rate`` per second, every fourth an
  advance of the agenda (``POST /conferences/{id}/advance``), the others a task edit on the two plans
  (``PATCH /tasks/{id}``, If-Match).
- *boards alone*: the same viewers subscribe to the two plans only and the lead sends as many writes, all
  task edits: the board's own fan-out, so the conference layer's cost is the difference.

Viewers are ``websockets`` clients in this process, pinned to the load generator's CPU; a write's start is
``perf_counter_ns()`` before its request, a receipt when its frame is read; frames are matched to writes by
their stream and seq. Every viewer must get every event once and in order (else the run fails); figures:
p50/p99 over every delivery (*any*) and of the last viewer of each write (*last*), the server's RSS per
connected viewer, and the share of the load generator's CPU used (above 90% the window is marked invalid).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import resource
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import orjson
from common import HOST, Cores, ms, percentile, pin, say
from systems import SECRET, System

DRAIN_SECONDS = 30.0
CONNECT_CONCURRENCY = 64


@dataclass
class Clinic:
    db_url: str
    patient_id: int
    lead_token: str
    observer_tokens: list[str]
    observer_ids: list[int]


async def seed(db_url: str, observers: int) -> Clinic:
    """The conference's clinic, through careteam's own tables and session code (the database is migrated)."""
    from careteam.accounts.passwords import hash_password
    from careteam.accounts.sessions import open_session
    from careteam.accounts.tables import User
    from careteam.core.vocab import Discipline
    from careteam.db.engine import make_engine, make_sessionmaker, unit_of_work
    from careteam.patients.codes import TeamRole
    from careteam.patients.tables import CareTeam, CareTeamMember, Patient
    from careteam.settings import Settings

    engine = make_engine(db_url)
    settings = Settings(database_url=db_url, secret_key=SECRET)
    password = hash_password("bench password 0123")
    try:
        async with unit_of_work(make_sessionmaker(engine)) as s:

            def user(name: str, discipline: Discipline) -> User:
                return User(
                    username=name,
                    display_name=name.replace(".", " ").title(),
                    discipline=discipline,
                    role="clinician",
                    password_hash=password,
                    active=True,
                )

            lead = user("bench.lead", Discipline.ipm_lead)
            trainees = [user(f"bench.trainee{i}", Discipline.nurse) for i in range(observers)]
            s.add_all([lead, *trainees])
            patient = Patient(mrn="BENCH-CONF-1", name="Conference Patient", birth_date=date(1968, 3, 9))
            s.add(patient)
            await s.flush()
            team = CareTeam(patient_id=patient.id or 0, name="Spine MDT team")
            s.add(team)
            await s.flush()
            s.add(
                CareTeamMember(
                    team_id=team.id or 0,
                    user_id=lead.id or 0,
                    role=TeamRole.lead,
                    discipline=Discipline.ipm_lead,
                )
            )
            lead_token = await open_session(s, lead, kind="bearer", settings=settings)
            tokens = [await open_session(s, t, kind="bearer", settings=settings) for t in trainees]
            return Clinic(
                db_url=db_url,
                patient_id=patient.id or 0,
                lead_token=lead_token.secret,
                observer_tokens=[t.secret for t in tokens],
                observer_ids=[t.id or 0 for t in trainees],
            )
    finally:
        await engine.dispose()


async def agenda_plans(clinic: Clinic) -> tuple[list[int], list[int]]:
    """Two new plans of the clinic's patient with one task each (a window starts from empty streams)."""
    from careteam.core.vocab import Discipline
    from careteam.db.engine import make_engine, make_sessionmaker, unit_of_work
    from careteam.plans.tables import CarePlan, Task

    engine = make_engine(clinic.db_url)
    patient = clinic.patient_id
    try:
        async with unit_of_work(make_sessionmaker(engine)) as s:
            plans = [
                CarePlan(patient_id=patient, title=title, status="active")
                for title in ("Lumbar facet pain", "Opioid taper")
            ]
            s.add_all(plans)
            await s.flush()
            tasks = [
                Task(plan_id=p.id or 0, title="UDS due", discipline=Discipline.nurse, position=1024.0)
                for p in plans
            ]
            s.add_all(tasks)
            await s.flush()
            return [p.id or 0 for p in plans], [t.id or 0 for t in tasks]
    finally:
        await engine.dispose()


class _Viewer:
    """One socket: subscribes to its streams, then records (stream, seq, receipt) of every event frame."""

    def __init__(self, token: str, streams: dict[str, int], port: int) -> None:
        self.token, self.streams, self.port = token, streams, port
        self.got: list[tuple[str, int, int]] = []
        self.ws: Any = None
        self.done = asyncio.Event()
        self.expected = 0
        self.reader: asyncio.Task[None] | None = None

    async def open(self) -> None:
        from websockets.asyncio.client import connect

        self.ws = await connect(
            f"ws://{HOST}:{self.port}/ws",
            additional_headers={"Authorization": f"Bearer {self.token}"},
            compression=None,
            max_queue=None,
            open_timeout=60,
        )
        for stream, after in self.streams.items():
            await self.ws.send(orjson.dumps({"type": "subscribe", "stream": stream, "after": after}).decode())
            while True:
                frame = orjson.loads(await self.ws.recv())
                if frame.get("type") == "subscribed" and frame.get("stream") == stream:
                    break
                if frame.get("type") == "error":
                    raise RuntimeError(f"subscribe {stream}: {frame}")
        self.reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        now = time.perf_counter_ns
        async for raw in self.ws:
            frame = orjson.loads(raw)
            if frame.get("type") == "event":
                self.got.append((frame["stream"], frame["seq"], now()))
                if self.expected and len(self.got) >= self.expected:
                    self.done.set()

    async def close(self) -> None:
        if self.reader:
            self.reader.cancel()
        await self.ws.close()


async def _window(
    system: System, clinic: Clinic, *, conference: bool, viewers: int, events: int, rate: float
) -> dict[str, Any]:
    import httpx

    port = system.ports[0]
    rss_before = system.rss()
    lead = {"Authorization": f"Bearer {clinic.lead_token}"}
    plans, tasks = await agenda_plans(clinic)
    async with httpx.AsyncClient(base_url=f"http://{HOST}:{port}", headers=lead, timeout=30) as http:
        r = await http.post(
            "/api/v1/conferences",
            json={
                "title": "Spine MDT",
                "starts_at": (datetime.now(UTC) + timedelta(minutes=1)).isoformat(),
                "observer_ids": clinic.observer_ids,
                "items": [{"plan_id": p, "reason": "Review after MBB"} for p in plans],
            },
        )
        if r.status_code != 201:
            raise RuntimeError(f"scheduling answered {r.status_code}: {r.text[:300]}")
        conf = r.json()
        items = [i["id"] for i in conf["items"]]
        conf_key = f"conference:{conf['id']}"
        plan_keys = [f"plan:{p}" for p in plans]
        # Plans start with no events; the conference's stream has its scheduling events before ours.
        streams = {**({conf_key: conf["last_seq"]} if conference else {}), **{k: 0 for k in plan_keys}}

        sockets = [
            _Viewer(clinic.observer_tokens[n % len(clinic.observer_tokens)], streams, port)
            for n in range(viewers)
        ]
        gate = asyncio.Semaphore(CONNECT_CONCURRENCY)

        async def open_one(v: _Viewer) -> None:
            async with gate:
                await v.open()

        t_connect = time.perf_counter()
        await asyncio.gather(*(open_one(v) for v in sockets))
        connect_s = time.perf_counter() - t_connect
        rss_connected = system.rss()

        # The writes: each recorded by stream in order, so the k-th write on a stream is seq base + k.
        sent: dict[str, list[int]] = defaultdict(list)
        versions = [1] * len(tasks)
        plan_writes = [n for n in range(events) if not (conference and n % 4 == 0)]
        expected = events if conference else len(plan_writes)
        for v in sockets:
            v.expected = expected
        cpu0 = _cpu()
        t0 = time.perf_counter()
        failed: list[str] = []
        answered: dict[str, list[int]] = defaultdict(list)  # "advance"/"edit" -> request durations (ns)
        for n in range(events):
            delay = t0 + n / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            if conference and n % 4 == 0:
                key = conf_key
                start = time.perf_counter_ns()
                r = await http.post(
                    f"/api/v1/conferences/{conf['id']}/advance", json={"item_id": items[n // 4 % len(items)]}
                )
            else:
                which = n % len(tasks)
                key = plan_keys[which]
                start = time.perf_counter_ns()
                r = await http.patch(
                    f"/api/v1/tasks/{tasks[which]}",
                    json={"title": f"UDS due, take {n}"},
                    headers={"If-Match": f'W/"{versions[which]}"'},
                )
                versions[which] += 1
            if r.status_code != 200:
                failed.append(f"{r.status_code} {r.text[:200]}")
                continue
            sent[key].append(start)
            answered["advance" if key == conf_key else "edit"].append(time.perf_counter_ns() - start)
        writes_s = time.perf_counter() - t0
        with contextlib.suppress(TimeoutError):  # what is missing then is counted as lost
            await asyncio.wait_for(asyncio.gather(*(v.done.wait() for v in sockets)), DRAIN_SECONDS)
        wall = time.perf_counter() - t0
        cpu = (_cpu() - cpu0) / wall
        await asyncio.gather(*(v.close() for v in sockets))
    base = {k: streams[k] for k in streams}
    every: list[int] = []
    last: dict[tuple[str, int], int] = {}
    lost = duplicates = disorder = 0
    want = {k: list(range(base[k] + 1, base[k] + 1 + len(sent[k]))) for k in streams}
    for v in sockets:
        by_stream: dict[str, list[int]] = defaultdict(list)
        for stream, seq, at in v.got:
            by_stream[stream].append(seq)
            k = seq - base[stream] - 1
            if 0 <= k < len(sent[stream]):
                latency = at - sent[stream][k]
                every.append(latency)
                last[(stream, seq)] = max(last.get((stream, seq), 0), latency)
        for stream, seqs in want.items():
            got = by_stream.get(stream, [])
            lost += len(set(seqs) - set(got))
            duplicates += len(got) - len(set(got))
            disorder += got != sorted(got)
    every.sort()
    lasts = sorted(last.values())
    return {
        "label": "conference" if conference else "boards alone",
        "viewers": viewers,
        "streams_per_viewer": len(streams),
        "writes": sum(len(s) for s in sent.values()),
        "advances": len(sent.get(conf_key, [])) if conference else 0,
        "writes_failed": len(failed),
        "write_errors": failed[:3],
        "writes_per_s": round(sum(len(s) for s in sent.values()) / writes_s, 1),
        "answer_ms_p50": {k: ms(percentile(sorted(v), 50)) for k, v in answered.items()},
        "expected": expected * viewers,
        "delivered": len(every),
        "lost": lost,
        "duplicates": duplicates,
        "out_of_order_viewers": disorder,
        "any_ms_p50": ms(percentile(every, 50)) if every else None,
        "any_ms_p99": ms(percentile(every, 99)) if every else None,
        "last_ms_p50": ms(percentile(lasts, 50)) if lasts else None,
        "last_ms_p99": ms(percentile(lasts, 99)) if lasts else None,
        "connect_seconds": round(connect_s, 1),
        "server_rss_mib_before": round(rss_before / 2**20, 1),
        "server_rss_mib": round(rss_connected / 2**20, 1),
        "kib_per_viewer": round((rss_connected - rss_before) / 1024 / viewers, 1),
        "loadgen_cpu": round(cpu, 2),
        "valid": cpu <= 0.9,
    }


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def run(
    factory: Callable[[], System],
    db_url: str,
    cores: Cores,
    *,
    viewers: int,
    observers: int,
    events: int,
    rate: float,
) -> dict[str, Any]:
    """Both windows, each on a fresh server from ``factory``; this process on the load generator's CPU."""
    saved = os.sched_getaffinity(0)
    pin(cores.loadgen)
    out: dict[str, Any] = {
        "params": {"viewers": viewers, "observers": observers, "events": events, "rate": rate}
    }
    try:
        clinic = asyncio.run(seed(db_url, observers))
        for conference in (True, False):
            system = factory()
            try:
                w = asyncio.run(
                    _window(system, clinic, conference=conference, viewers=viewers, events=events, rate=rate)
                )
            finally:
                system.stop()
            if system.problems:
                w["writes_failed"] += len(system.problems)
                w["write_errors"].append("server logged a traceback")
            out["conference" if conference else "boards"] = w
            say(f"    {describe(w)}")
    finally:
        pin(saved)
    return out


def describe(w: dict[str, Any]) -> str:
    return (
        f"{w['label']}: {w['viewers']} viewers x {w['streams_per_viewer']} streams, {w['writes']} writes "
        f"({w['advances']} advances) at {w['writes_per_s']}/s (answered in p50 "
        + ", ".join(f"{k} {v} ms" for k, v in w["answer_ms_p50"].items())
        + f"): any p50 {w['any_ms_p50']} ms p99 "
        f"{w['any_ms_p99']} ms, last p50 {w['last_ms_p50']} ms p99 {w['last_ms_p99']} ms; delivered "
        f"{w['delivered']:,}/{w['expected']:,}, lost {w['lost']}, duplicates {w['duplicates']}, out of order "
        f"{w['out_of_order_viewers']}; server RSS {w['server_rss_mib_before']} -> {w['server_rss_mib']} MiB "
        f"({w['kib_per_viewer']} KiB a viewer)"
        f"; load generator CPU {w['loadgen_cpu']:.0%}{'' if w['valid'] else ' (INVALID)'}"
    )
