"""Part 8: a clinic-shaped mixed load on one careteam process (#18 item 3).

A clinic of its own in the bench database, drawn with a fixed seed: ``clinic_plans`` patients, each with a
care team (the clinic's charge nurse and three colleagues of 20 clinicians of mixed disciplines) and one plan
of ``clinic_tasks`` tasks (mixed lanes, statuses, assignees and due dates); each plan has ``clinic_viewers``
viewers, each signed in as one of its team (bearer token). For ``clinic_seconds``, all at once:

- ``clinic_rate`` task writes a second, spread over the plans (one writer lane per plan, taken in a seeded
  shuffled order, so each plan is written every ``plans / rate`` seconds): PATCH of a task's title with
  If-Match, as section 3, by the charge nurse; the title carries the write's ``~w<id>~`` marker;
- ``clinic_reads`` board reads a second on random plans, in turn the JSON (``GET /api/v1/plans/{id}``,
  bearer) and the page (``GET /plans/{id}``, the nurse's cookie);
- reconnect churn: ``clinic_churn`` of the viewers a second close their socket (a close frame, as the
  browser's ``close()``), wait the browser's first back-off (``clinic_gap_s`` with live.js's jitter, 0.75x
  to 1.25x) and reconnect with ``{"subscribe", "plan_id", "after": <the last seq they got>}``. The full
  run's 0.2% a second is every viewer reconnecting once in about eight minutes (a generous rate of laptop
  sleeps and Wi-Fi blips); 2% a second (50 reconnects/s) was tried on 2026-12-02 and overloaded the one
  process: a socket opened and subscribed cost it 20-25 ms of CPU on that machine.

Every viewer of a plan must get every write of that plan once, reconnecting or not: what a reconnected viewer
missed comes as the replay (frames with seq <= the ``subscribed`` frame's ``last_seq``). Figures: per write,
the first and last viewer of its plan among *live* deliveries (viewers connected when it was published) and
the last over all deliveries (replays included); the replays' own latency from the write; board read
p50/p99 per kind; the reconnects' time (socket open to ``subscribed``); loss, duplicates and errors (writes
and reads not 2xx, reconnects that failed, ``error``/``resync`` frames, server tracebacks). Viewers, writer
and reader are load-generator processes pinned to the load generator's CPU; the server to its own.
"""

from __future__ import annotations

import asyncio
import os
import random
import time
from array import array
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from common import HOST, Cores, CpuMeter, ms, percentile, say
from loadgen import LaneSpec, ViewerPool, WriterProc
from session import LOADGEN_SATURATED, Params, next_write_ids
from systems import SECRET, Layout, System

CLINICIANS = 20
TEAM_SIZE = 4  # the charge nurse and three colleagues
READ_CONNECTIONS = 4
DRAIN_SECONDS = 30.0
# The server's CPU with the viewers connected and nothing else going on: its access re-check (one query per
# watched plan every CARETEAM_WS_ACCESS_RECHECK_SECONDS), sweep and heartbeats. Two re-check rounds.
IDLE_SECONDS = 6.0
STATUSES = ["requested", "ready", "in-progress", "on-hold", "completed"]


@dataclass
class Clinic:
    plans: list[int]
    write_task: dict[int, int]  # plan -> the task its writer lane edits
    viewers: dict[int, int]  # plan -> viewers
    team_tokens: dict[int, list[str]]  # plan -> bearer tokens of its team (viewers take them in turn)
    tasks: dict[int, int]  # plan -> tasks on its board
    token: str  # the charge nurse's bearer token (writes, JSON reads)
    cookie: tuple[str, str]  # her cookie session (page reads): name, value
    user_id: int
    last_seq: dict[int, int] = field(default_factory=dict)

    def layout(self) -> Layout:
        """What ``systems.start_careteam`` needs: the token the System's headers carry."""
        return Layout(
            fanout_plan=self.plans[0],
            write_plans=self.plans,
            lanes={p: [self.write_task[p]] for p in self.plans},
            token=self.token,
            cookie=self.cookie[1],
            user_id=self.user_id,
            versions={t: 1 for t in self.write_task.values()},
        )


async def seed(db_url: str, params: Params) -> Clinic:
    """The clinic, through careteam's own tables and session code (the database is already migrated)."""
    from careteam.accounts.passwords import hash_password
    from careteam.accounts.sessions import open_session
    from careteam.accounts.tables import User
    from careteam.core.vocab import Discipline
    from careteam.db.engine import make_engine, make_sessionmaker, unit_of_work
    from careteam.events import log, streams
    from careteam.patients.codes import TeamRole
    from careteam.patients.tables import CareTeam, CareTeamMember, Patient
    from careteam.plans.tables import CarePlan, Task
    from careteam.settings import Settings

    rng = random.Random(params.clinic_seed)
    disciplines = [d for d in Discipline if d is not Discipline.ipm_lead]
    engine = make_engine(db_url)
    settings = Settings(database_url=db_url, secret_key=SECRET)
    password = hash_password("bench password 0123")
    rng.randrange(16**6)  # (a draw the first version took: the clinic keeps the shape it had)
    tag = os.urandom(3).hex()  # a second clinic in the same database (another system) gets other names
    try:
        async with unit_of_work(make_sessionmaker(engine)) as s:
            users = [
                User(
                    username=f"clinic.{tag}.{i}",
                    display_name=f"Clinician {i}",
                    discipline=Discipline.nurse if i == 0 else disciplines[i % len(disciplines)],
                    role="clinician",
                    password_hash=password,
                    active=True,
                )
                for i in range(CLINICIANS)
            ]
            s.add_all(users)
            await s.flush()
            tokens = [(await open_session(s, u, kind="bearer", settings=settings)).secret for u in users]
            cookie = (await open_session(s, users[0], kind="cookie", settings=settings)).secret
            out = Clinic(
                [], {}, {}, {}, {}, tokens[0], (settings.session_cookie_name, cookie), users[0].id or 0
            )
            for n in range(params.clinic_plans):
                patient = Patient(
                    mrn=f"CLINIC-{tag}-{n:04d}",
                    name=f"Clinic Patient {n}",
                    birth_date=date(1940, 1, 1) + timedelta(days=rng.randrange(365 * 60)),
                )
                s.add(patient)
                await s.flush()
                team = CareTeam(patient_id=patient.id or 0, name=f"Care team {n}")
                s.add(team)
                await s.flush()
                members = [0, *rng.sample(range(1, CLINICIANS), TEAM_SIZE - 1)]
                s.add_all(
                    CareTeamMember(
                        team_id=team.id or 0,
                        user_id=users[m].id or 0,
                        role=TeamRole.lead if m == 0 else TeamRole.member,
                        discipline=users[m].discipline,
                    )
                    for m in members
                )
                plan = CarePlan(patient_id=patient.id or 0, title=f"Pain plan {n}", status="active")
                s.add(plan)
                await s.flush()
                plan_id = plan.id or 0
                lo, hi = params.clinic_tasks
                rows = []
                for k in range(rng.randint(lo, hi)):
                    m = rng.choice(members)
                    rows.append(
                        Task(
                            plan_id=plan_id,
                            title=f"Task {k}: review the pain diary",
                            description="Review NRS scores with the patient; adjust the plan if above 6.",
                            discipline=users[m].discipline,
                            assignee_id=(users[m].id or 0) if rng.random() < 0.6 else None,
                            # The written task stays open (a write of a finished task is another story).
                            status="ready" if k == 0 else rng.choice(STATUSES),
                            priority="urgent" if rng.random() < 0.1 else "routine",
                            due_date=date.today() + timedelta(days=rng.randrange(-10, 30)),
                            position=1024.0 * (k + 1),
                            checklist=[{"text": "Call the patient", "done": rng.random() < 0.5}],
                        )
                    )
                s.add_all(rows)
                await s.flush()
                out.plans.append(plan_id)
                out.write_task[plan_id] = rows[0].id or 0
                out.tasks[plan_id] = len(rows)
                out.viewers[plan_id] = rng.randint(*params.clinic_viewers)
                out.team_tokens[plan_id] = [tokens[m] for m in members]
        async with make_sessionmaker(engine)() as s:
            for plan_id in out.plans:
                out.last_seq[plan_id] = await log.last_seq(s, streams.plan(plan_id))
    finally:
        await engine.dispose()
    return out


def _groups(clinic: Clinic, system: System) -> list[dict[str, Any]]:
    """Each plan's viewers, signed in as its team members in turn, following it from its last seq; with
    several server processes, the viewers are dealt to them in turn (a proxy without sticky sessions)."""
    ports = system.ports
    counts: dict[tuple[int, str, int], int] = {}
    k = 0
    for plan_id, count in clinic.viewers.items():
        tokens = clinic.team_tokens[plan_id]
        for v in range(count):
            key = (plan_id, tokens[v % len(tokens)], ports[k % len(ports)])
            counts[key] = counts.get(key, 0) + 1
            k += 1
    return [
        {
            "host": HOST,
            "port": port,
            "path": system.ws_path,
            "headers": [("Authorization", f"Bearer {token}")],
            "mode": "json",
            "plan_id": plan_id,
            "after": clinic.last_seq.get(plan_id, 0),
            "track": True,
            "count": count,
        }
        for (plan_id, token, port), count in counts.items()
    ]


def _lanes(clinic: Clinic, system: System, rng: random.Random) -> list[LaneSpec]:
    auth = [("Authorization", f"Bearer {clinic.token}")]
    plans = list(clinic.plans)
    rng.shuffle(plans)
    ports = system.ports  # writes alternate between processes, as behind a proxy
    return [
        LaneSpec("http", HOST, ports[i % len(ports)], p, clinic.write_task[p], 1, auth)
        for i, p in enumerate(plans)
    ]


def _reads(clinic: Clinic, rng: random.Random, n: int) -> list[tuple[str, str, list[tuple[str, str]]]]:
    bearer = [("Authorization", f"Bearer {clinic.token}")]
    cookie = [("Cookie", f"{clinic.cookie[0]}={clinic.cookie[1]}")]
    out = []
    for k in range(n):
        plan = rng.choice(clinic.plans)
        out.append(
            ("json", f"/api/v1/plans/{plan}", bearer) if k % 2 == 0 else ("html", f"/plans/{plan}", cookie)
        )
    return out


def _p(values: list[int] | array[int], q: float) -> float | None:
    return ms(percentile(sorted(values), q))


def run_system(
    name: str, factory: Callable[[Layout], System], db_url: str, cores: Cores, params: Params
) -> dict[str, Any]:
    """Seed the clinic, start a fresh server, connect the viewers, run the mixed load once; the figures."""
    t_seed = time.monotonic()
    clinic = asyncio.run(seed(db_url, params))
    say(
        f"    seeded {len(clinic.plans)} plans, {sum(clinic.tasks.values()):,} tasks, "
        f"{sum(clinic.viewers.values()):,} viewers in {time.monotonic() - t_seed:.1f} s"
    )
    system = factory(clinic.layout())
    n = sum(clinic.viewers.values())
    cpus = sorted(cores.loadgen)
    procs = max(1, -(-n // params.viewers_per_process))
    pool = ViewerPool(procs, cpus)
    writer, reader = WriterProc(cpus), WriterProc(cpus)
    rng = random.Random(params.clinic_seed + 1)
    seconds = params.clinic_seconds
    try:
        t0 = time.monotonic()
        connecting = CpuMeter(system.pids)
        opened, failures, failed = pool.connect(
            _groups(clinic, system), concurrency=params.connect_concurrency
        )
        connect_s = time.monotonic() - t0
        c = connecting.read()
        connect_cpu_ms = c["total"] * c["wall_s"] * 1000 / max(1, n)  # the server's CPU per socket opened
        if failed:
            raise RuntimeError(f"{name}: {failed} of {n} viewers could not subscribe: {failures}")
        say(
            f"    {opened:,} viewers on {len(clinic.plans)} plans subscribed in {connect_s:.1f} s "
            f"(server CPU {connect_cpu_ms:.1f} ms a socket)"
        )
        idle_s = min(IDLE_SECONDS, seconds)
        idle = CpuMeter(system.pids)
        time.sleep(idle_s)
        idle_cpu = idle.read()["total"]
        pool.broadcast("reset")
        lanes = _lanes(clinic, system, rng)
        reads = _reads(clinic, rng, max(1, int(params.clinic_reads * seconds)))
        first_id = next_write_ids()
        loadgen = CpuMeter([writer.pid, reader.pid, *pool.pids])
        server = CpuMeter(system.pids)
        rss_before = system.rss()
        writer.send("open_loop", lanes, params.clinic_rate, seconds, first_id)
        reader.send("get_loop", HOST, system.ports[0], reads, params.clinic_reads, seconds, READ_CONNECTIONS)
        per_worker = params.clinic_churn * n / len(pool.workers)
        for i, w in enumerate(pool.workers):
            w.send(
                "churn_start", per_worker, seconds, params.clinic_gap_s, params.clinic_seed + 100 + i, 30.0
            )
        for w in pool.workers:
            w.recv(30)
        _, results, _, write_error_sample, write_error_count = writer.recv(seconds + 180)
        _, got, read_error_sample, read_error_count = reader.recv(seconds + 180)
        churn = [w.call("churn_wait", timeout=seconds + 180)[1] for w in pool.workers]
        ok = [r for r in results if 200 <= r[4] < 300]
        bad = [r for r in results if not 200 <= r[4] < 300]
        expected = sum(clinic.viewers[r[1]] for r in ok)
        received, last_change, last_value = 0, time.monotonic(), -1
        deadline = time.monotonic() + DRAIN_SECONDS
        while time.monotonic() < deadline:
            received = pool.received()
            if received >= expected:
                break
            if received != last_value:
                last_value, last_change = received, time.monotonic()
            elif time.monotonic() - last_change > 5.0:
                break
            time.sleep(0.05)
        lg, sv = loadgen.read(), server.read()
        rss_after = system.rss()
        out = _merge(pool, {r[0]: (r[1], r[2]) for r in ok}, clinic)
        status = pool.status()
    finally:
        pool.stop()
        writer.stop()
        reader.stop()
        system.stop()
    reads_ok = [g for g in got if 200 <= g[3] < 300]
    reads_bad = [g for g in got if not 200 <= g[3] < 300]
    by_kind: dict[str, Any] = {}
    for kind in ("json", "html"):
        times = [g[2] - g[1] for g in reads_ok if g[0] == kind]
        sizes = [g[4] for g in reads_ok if g[0] == kind]
        by_kind[kind] = {
            "requests": len(times),
            "p50_ms": _p(times, 50),
            "p99_ms": _p(times, 99),
            "kib_p50": round((percentile(sorted(sizes), 50) or 0) / 1024, 1),
        }
    reconnect_times = sorted(t for c in churn for t in c["times_ns"])
    reconnects_failed = sum(c["failed"] for c in churn)
    starts = sorted(r[2] for r in ok)
    span = (starts[-1] - starts[0]) / 1e9 if len(starts) > 1 else 0
    errors = {
        "writes_failed": len(bad) + (write_error_count if not bad else 0),
        "write_errors": write_error_sample or sorted({str(r[4]) for r in bad})[:5],
        "reads_failed": len(reads_bad) + (read_error_count if not reads_bad else 0),
        "read_errors": read_error_sample or sorted({str(g[3]) for g in reads_bad})[:5],
        "reconnects_failed": reconnects_failed,
        "reconnects_retried": sum(c.get("retried", 0) for c in churn),
        "reconnect_errors": [f for c in churn for f in c["failures"]][:5],
        "error_frames": status["errors"],
        "first_error_frame": status["first_error"],
        "resyncs": status["resyncs"],
        "closed_by_server": status["closed_by_server"],
        "server_tracebacks": len(system.problems),
    }
    out.update(
        {
            "system": name,
            "plans": len(clinic.plans),
            "tasks": sum(clinic.tasks.values()),
            "viewers": n,
            "viewers_min_max": [min(clinic.viewers.values()), max(clinic.viewers.values())],
            "seconds": seconds,
            "rate_target": params.clinic_rate,
            "writes_ok": len(ok),
            "writes_per_s": round((len(ok) - 1) / span, 1) if span else None,
            "write_ms_p50": _p([r[3] - r[2] for r in ok], 50),
            "write_ms_p99": _p([r[3] - r[2] for r in ok], 99),
            "reads": by_kind,
            "reads_per_s": round(len(got) / seconds, 1),
            "reconnects": sum(c["reconnects"] for c in churn),
            "reconnects_per_s": round(sum(c["reconnects"] for c in churn) / seconds, 1),
            "reconnect_ms_p50": ms(percentile(reconnect_times, 50)),
            "reconnect_ms_p99": ms(percentile(reconnect_times, 99)),
            "connect_seconds": round(connect_s, 1),
            "connect_cpu_ms_per_viewer": round(connect_cpu_ms, 2),
            "server_cpu": round(sv["total"], 3),
            "server_cpu_idle": round(idle_cpu, 3),
            "idle_seconds": idle_s,
            "loadgen_cpu": round(lg["total"], 3),
            "loadgen_cpu_max_process": round(lg["max_process"], 3),
            "valid": lg["total"] <= LOADGEN_SATURATED,
            "server_rss_mib": round(rss_after / 2**20, 1),
            "server_rss_mib_before": round(rss_before / 2**20, 1),
            **errors,
        }
    )
    out["errors"] = sum(
        out[k]
        for k in (
            "writes_failed",
            "reads_failed",
            "reconnects_failed",
            "error_frames",
            "resyncs",
            "closed_by_server",
            "server_tracebacks",
        )
    )
    return out


def _merge(pool: ViewerPool, writes: dict[int, tuple[int, int]], clinic: Clinic) -> dict[str, Any]:
    starts = {w: s for w, (_, s) in writes.items()}
    first: dict[int, int] = {}
    last: dict[int, int] = {}
    last_all: dict[int, int] = {}
    count: dict[int, int] = {}
    lat, replay = array("q"), array("q")
    dupes = stray = 0
    reading: dict[int, int] = {}
    for _, rep in pool.broadcast("report", starts, False, timeout=300):
        for w, t in rep["first"].items():
            first[w] = min(first.get(w, t), t)
        for w, t in rep["last"].items():
            last[w] = max(last.get(w, t), t)
        for w, t in (rep["last_all"] or rep["last"]).items():
            last_all[w] = max(last_all.get(w, t), t)
        for w, c in rep["count"].items():
            count[w] = count.get(w, 0) + c
        part = array("q")
        part.frombytes(rep["latencies"])
        lat.extend(part)
        part = array("q")
        part.frombytes(rep["replay_latencies"])
        replay.extend(part)
        dupes += rep["duplicates"]
        stray += rep["stray"]
        for p, c in rep["viewers_per_plan"].items():
            reading[p] = reading.get(p, 0) + c
    expected = sum(reading.get(plan, 0) for plan, _ in writes.values())
    delivered = sum(count.values())
    complete = [w for w, (plan, _) in writes.items() if count.get(w, 0) >= reading.get(plan, 0) > 0]
    firsts = sorted(first[w] - s for w, s in starts.items() if w in first)
    lasts = sorted(last[w] - starts[w] for w in complete if w in last)
    lasts_all = sorted(last_all[w] - starts[w] for w in complete if w in last_all)
    lat_sorted, replay_sorted = sorted(lat), sorted(replay)
    return {
        "expected": expected,
        "delivered": delivered,
        "lost": expected - delivered,
        "duplicates": dupes,
        "stray_frames": stray,
        "live_deliveries": len(lat),
        "replayed_deliveries": len(replay),
        "first_ms_p50": ms(percentile(firsts, 50)),
        "first_ms_p99": ms(percentile(firsts, 99)),
        "last_ms_p50": ms(percentile(lasts, 50)),
        "last_ms_p99": ms(percentile(lasts, 99)),
        "last_all_ms_p50": ms(percentile(lasts_all, 50)),
        "last_all_ms_p99": ms(percentile(lasts_all, 99)),
        "delivery_ms_p99": ms(percentile(lat_sorted, 99)),
        "replay_ms_p50": ms(percentile(replay_sorted, 50)),
        "replay_ms_p99": ms(percentile(replay_sorted, 99)),
    }


def describe(r: dict[str, Any]) -> str:
    reads = ", ".join(f"{k} p50/p99 {v['p50_ms']}/{v['p99_ms']} ms" for k, v in r["reads"].items())
    return (
        f"{r['viewers']:,} viewers on {r['plans']} plans, {r['writes_ok']} writes at {r['writes_per_s']}/s "
        f"(answered p50/p99 {r['write_ms_p50']}/{r['write_ms_p99']} ms): first viewer p50/p99 "
        f"{r['first_ms_p50']}/{r['first_ms_p99']} ms, last live viewer p50/p99 {r['last_ms_p50']}/"
        f"{r['last_ms_p99']} ms, last with replays p99 {r['last_all_ms_p99']} ms; delivered "
        f"{r['delivered']:,}/{r['expected']:,} ({r['replayed_deliveries']:,} by replay, p50/p99 "
        f"{r['replay_ms_p50']}/{r['replay_ms_p99']} ms), duplicates {r['duplicates']}; board reads "
        f"{r['reads_per_s']}/s: {reads}; {r['reconnects']} reconnects ({r['reconnects_per_s']}/s, open to "
        f"subscribed p50/p99 {r['reconnect_ms_p50']}/{r['reconnect_ms_p99']} ms); errors {r['errors']}; "
        f"server CPU {r['server_cpu']:.0%} (connected, idle: {r['server_cpu_idle']:.0%}), "
        f"load generator CPU {r['loadgen_cpu']:.0%}" + ("" if r["valid"] else " (INVALID)")
    )
