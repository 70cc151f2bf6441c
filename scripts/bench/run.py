"""careteam beside its peers, in one run: ``python scripts/bench/run.py`` (full) or ``--quick`` (CI).

Runs every part (fan-out, throughput, writes, board, my work, memory, case conference, the fan-out at
10,000 viewers, the clinic-shaped mixed load) against careteam
and, in the same run and with the same load generator and pinning, against the peers (a bare ``websockets``
floor, Django Channels, python-socketio); prints every figure against its target and writes
docs/benchmarks.md and docs/benchmarks.json (quick mode: a temporary directory, so CI leaves the tree clean).

Needs PostgreSQL (BENCH_PG_URL, default postgresql://postgres@127.0.0.1:5432/test: its database
careteam_bench, or BENCH_DB, and the peers' <that name>_* are dropped and re-created) and Redis
(BENCH_REDIS_URL, default redis://127.0.0.1:6379/0; the Channels peer uses database 1). Exit status 1 if any
frame was lost, a write failed or a system could not be measured; targets missed are reported, not failed.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

# Heavy imports happen in main(): load-generator processes are spawned and re-import this module.


def _params(quick: bool) -> object:
    from session import Params

    if quick:
        return Params(
            quick=True,
            fanout_ns=(100,),
            fanout_rate=5,
            fanout_seconds=1.5,
            stall_fraction=0.01,
            ramp_n=100,
            ramp_rates=(20,),
            ramp_seconds=1,
            ramp_p99_limit_ms=1000,
            writes_seconds=1,
            writes_viewers=100,
            write_plans=4,
            write_lanes_per_plan=4,
            fanout_lanes=16,
            board_sizes=(50, 200),
            board_requests=5,
            work_patients=10,
            work_tasks=400,
            work_requests=5,
            memory_ns=(100,),
            viewers_per_process=2500,
            connect_concurrency=64,
            settle_seconds=0.5,
            conference_viewers=100,
            conference_observers=5,
            conference_events=40,
            conference_rate=20,
            fanout_big_n=200,
            clinic_plans=10,
            clinic_rate=2,
            clinic_seconds=2,
            clinic_reads=2,
            clinic_churn=0.05,
        )
    return Params(
        quick=False,
        fanout_ns=(100, 1000, 5000),
        fanout_rate=5,
        fanout_seconds=20,
        stall_fraction=0.01,
        ramp_n=1000,
        ramp_rates=(10, 20, 30, 45, 70, 100, 150, 220, 330, 500),
        ramp_seconds=6,
        ramp_p99_limit_ms=1000,
        writes_seconds=10,
        writes_viewers=1000,
        write_plans=10,
        write_lanes_per_plan=3,
        fanout_lanes=32,
        board_sizes=(500, 2000),
        board_requests=100,
        work_patients=50,
        work_tasks=2000,
        work_requests=100,
        memory_ns=(1000, 5000),
        viewers_per_process=2500,
        connect_concurrency=64,
        settle_seconds=2.0,
        conference_viewers=500,
        conference_observers=5,
        conference_events=200,
        conference_rate=10,
        fanout_big_n=10_000,
        clinic_plans=200,
        clinic_tasks=(10, 30),
        clinic_viewers=(5, 20),
        clinic_rate=50,
        clinic_seconds=20,
        clinic_reads=5,
        clinic_churn=0.002,
        clinic_gap_s=0.5,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="small N, a few seconds per part (CI)")
    parser.add_argument(
        "--out",
        type=Path,
        help="where to write benchmarks.md/.json (default: docs/, or a temporary directory in quick mode)",
    )
    parser.add_argument(
        "--peers",
        choices=("all", "floor", "none"),
        default=None,
        help="peers to run beside careteam (default: all; quick mode: all if their "
        "environment is already built, else the floor only)",
    )
    parser.add_argument(
        "--build-peers", action="store_true", help="build the peers' environment in quick mode"
    )
    parser.add_argument(
        "--only",
        default="",
        help="comma-separated parts: fanout,writes,board,work,conference,fanout10k,clinic (default: all)",
    )
    parser.add_argument(
        "--systems",
        default="",
        help="comma-separated subset of: careteam, floor, channels, socketio, "
        "careteam-2p-redis, careteam-2p-notify, careteam-postgres, careteam-sqlite (default: all)",
    )
    parser.add_argument(
        "--render",
        type=Path,
        metavar="JSON",
        help="only rewrite benchmarks.md from a run's JSON (e.g. after editing scripts/bench/ANALYSIS.md)",
    )
    args = parser.parse_args(argv)
    if args.render:
        import json

        import report

        results = report.revive(json.loads(args.render.read_text()))
        results["targets"] = report.targets(results, results["meta"]["params"])
        results["failures"] = report.failures(results)
        md, js = report.write(results, args.render.parent)
        print(report.console(results))
        print(f"wrote {md} and {js}")
        return 1 if results["failures"] else 0

    import asyncio
    import dataclasses
    import tempfile

    import board
    import clinic
    import conference
    import fanout
    import peers
    import report
    import systems
    import work
    import writes
    from common import REDIS_URL, ROOT, Cores, loadavg, pin, raise_fd_limit, say

    t0 = time.time()
    started = time.strftime("%Y-%m-%d %H:%M:%S %Z")
    load_before = loadavg()
    fds = raise_fd_limit()
    cores = Cores.pick()
    pin(cores.loadgen)  # the orchestrator only waits on pipes, but it stays off the server's CPU too
    params = _params(args.quick)
    parts = set(filter(None, args.only.split(","))) or {
        "fanout",
        "writes",
        "board",
        "work",
        "conference",
        "fanout10k",
        "clinic",
    }
    command = " ".join(["python", "scripts/bench/run.py", *(argv if argv is not None else sys.argv[1:])])
    machine = _machine()
    say(f"careteam benchmarks: {command}")
    say(
        f"machine: {machine['nproc']} CPUs ({machine['cpu_model']}), {machine['mem_gib']} GiB, "
        f"Python {machine['python']}, PostgreSQL {machine['postgres']}, Redis {machine['redis']}"
    )
    say(f"load average before: {load_before}; {cores.describe()}; file descriptors: {fds}")
    say("parameters: " + ", ".join(f"{k}={v}" for k, v in dataclasses.asdict(params).items()))  # type: ignore[call-overload]
    say("careteam server knobs: " + ", ".join(f"{k}={v}" for k, v in systems.CARETEAM_KNOBS.items()))

    # The peers: the floor runs in careteam's environment; Channels and Socket.IO need their own.
    # Quick mode (CI, under a minute) runs the floor only unless asked: Channels and Socket.IO need their
    # environment built (about 30 s) and a fresh server per run.
    mode = args.peers or ("all" if not args.quick or args.build_peers else "floor")
    skipped = ""
    if mode == "all":
        ready, how = peers.ensure_venv(build=not args.quick or args.build_peers)
        say(f"peers' environment: {how}")
        if not ready:
            mode, skipped = "floor", f"Django Channels and python-socketio ({how})"
    elif mode == "floor":
        skipped = (
            "Django Channels and python-socketio ("
            + (
                "quick mode keeps under a minute: run the full mode, or --quick --peers all"
                if args.quick and args.peers is None
                else "--peers floor"
            )
            + ")"
        )
    else:
        skipped = "all peers (--peers none)"
    peers_run = {"all": ["floor", "channels", "socketio"], "floor": ["floor"], "none": []}[mode]
    say(f"peers in this run: {', '.join(peers_run) or 'none'}" + (f"; SKIPPED: {skipped}" if skipped else ""))

    # BENCH_DB: another name lets two runs share one PostgreSQL server without dropping each other's data.
    db = os.environ.get("BENCH_DB", "careteam_bench")
    asyncio.run(systems.fresh_pg_database(db))
    pg = systems.pg_url(db)
    layout = asyncio.run(
        systems.seed_careteam(
            pg,
            write_plans=params.write_plans,
            lanes=params.fanout_lanes,
            write_lanes=params.write_lanes_per_plan,
        )
    )
    notify = systems.pg_url(db, driver="postgresql")
    sqlite_dir = tempfile.TemporaryDirectory(prefix="careteam-bench-sqlite-")
    sqlite = f"sqlite+aiosqlite:///{sqlite_dir.name}/bench.db"
    sqlite_layout = asyncio.run(
        systems.seed_careteam(
            sqlite,
            write_plans=params.write_plans,
            lanes=params.fanout_lanes,
            write_lanes=params.write_lanes_per_plan,
        )
    )
    server = cores.server
    factories = {
        "careteam": lambda: systems.start_careteam("careteam", pg, "memory://", layout, server),
        "floor": lambda: peers.start_floor(layout, server),
        "channels": lambda: peers.start_channels(layout, server),
        "socketio": lambda: peers.start_socketio(layout, server),
        "careteam-2p-redis": lambda: systems.start_careteam(
            "careteam-2p-redis", pg, REDIS_URL, layout, server, processes=2
        ),
        "careteam-2p-notify": lambda: systems.start_careteam(
            "careteam-2p-notify", pg, notify, layout, server, processes=2
        ),
    }
    chosen = set(filter(None, args.systems.split(",")))
    # Quick mode: the two-process path once (Redis); the full run measures NOTIFY as well.
    two_procs = ("careteam-2p-redis",) if params.quick else ("careteam-2p-redis", "careteam-2p-notify")
    wanted = [n for n in ("careteam", *peers_run, *two_procs) if not chosen or n in chosen]
    results: dict[str, object] = {
        "systems": {},
        "writes": {},
        "board": {},
        "board_errors": [],
        "work": {},
        "work_errors": [],
        "conference": {},
        "conference_errors": [],
        "fanout10k": {},
        "clinic": {},
        "clinic_errors": [],
    }
    try:
        if "fanout" in parts:
            for name in wanted:
                two = name.startswith("careteam-2p")
                say(f"\n[fan-out, throughput, memory] {name} (at {time.time() - t0:.0f} s)")
                results["systems"][name] = fanout.run_system(  # type: ignore[index]
                    name,
                    factories[name],
                    cores,
                    params,
                    ns=(params.ramp_n,) if two else None,
                    do_stall=not two,
                )
        if "writes" in parts:
            write_systems = {
                "careteam-postgres": factories["careteam"],
                "careteam-sqlite": lambda: systems.start_careteam(
                    "careteam-sqlite", sqlite, "memory://", sqlite_layout, server
                ),
                **{p: factories[p] for p in peers_run if p != "floor"},
            }
            for name, factory in write_systems.items():
                if chosen and name not in chosen:
                    continue
                say(f"\n[writes] {name} (at {time.time() - t0:.0f} s)")
                results["writes"][name] = writes.run_system(name, factory, cores, params)  # type: ignore[index]
        if "board" in parts:
            for backend, url, lay in (("postgres", pg, layout), ("sqlite", sqlite, sqlite_layout)):
                say(f"\n[board] {backend} (at {time.time() - t0:.0f} s)")
                try:
                    results["board"][backend] = board.run(  # type: ignore[index]
                        url, lay, cores, params.board_sizes, params.board_requests
                    )
                except Exception as exc:
                    say(f"    FAILED: {exc}")
                    results["board_errors"].append(f"board {backend}: {exc}"[:2000])  # type: ignore[attr-defined]
        if "work" in parts:
            # Said with the figures, so that they can be carried into another run's page (--render).
            results["work_run"] = {
                "command": command,
                "started": started,
                "load_before": load_before,
                "machine": f"{machine['nproc']} CPUs ({machine['cpu_model']}), "
                f"PostgreSQL {machine['postgres']}",
            }
            for backend, url in (("postgres", pg), ("sqlite", sqlite)):
                say(f"\n[my work] {backend} (at {time.time() - t0:.0f} s)")
                try:
                    results["work"][backend] = work.run(  # type: ignore[index]
                        url,
                        cores,
                        patients=params.work_patients,
                        patients_small=max(1, params.work_patients // 10),
                        tasks=params.work_tasks,
                        requests=params.work_requests,
                    )
                except Exception as exc:
                    say(f"    FAILED: {exc}")
                    results["work_errors"].append(f"my work {backend}: {exc}"[:2000])  # type: ignore[attr-defined]
            results["work_run"]["load_after"] = loadavg()  # type: ignore[index]
        if "conference" in parts and (not chosen or "careteam" in chosen):
            say(f"\n[case conference] careteam, PostgreSQL (at {time.time() - t0:.0f} s)")
            try:
                results["conference"] = conference.run(
                    factories["careteam"],
                    pg,
                    cores,
                    viewers=params.conference_viewers,
                    observers=params.conference_observers,
                    events=params.conference_events,
                    rate=params.conference_rate,
                )
                # Said with the figures, so that they can be carried into another run's page (--render).
                results["conference"]["run"] = {  # type: ignore[index]
                    "command": command,
                    "started": started,
                    "load_before": load_before,
                    "load_after": loadavg(),
                    "machine": f"{machine['nproc']} CPUs ({machine['cpu_model']}), "
                    f"PostgreSQL {machine['postgres']}",
                }
            except Exception as exc:
                say(f"    FAILED: {exc}")
                results["conference_errors"].append(f"case conference: {exc}"[:2000])  # type: ignore[attr-defined]
        if "fanout10k" in parts:
            # One process and the floor only: the peers and two processes at this N are beyond this machine's
            # one server core (the run would measure their queues, not the fan-out).
            for name in ("careteam", "floor"):
                if name not in wanted:
                    continue
                n = params.fanout_big_n
                say(f"\n[fan-out at {n:,} viewers] {name} (at {time.time() - t0:.0f} s)")
                results["fanout10k"][name] = fanout.run_system(  # type: ignore[index]
                    name,
                    factories[name],
                    cores,
                    params,
                    ns=(n,),
                    do_ramp=False,
                    do_stall=False,
                    memory=not params.quick,  # RSS at 10,000 (quick mode keeps short)
                )
        if "clinic" in parts:
            clinic_systems = {
                "careteam-postgres": (
                    pg,
                    lambda lay: systems.start_careteam("careteam-postgres", pg, "memory://", lay, server),
                ),
                "careteam-sqlite": (
                    sqlite,
                    lambda lay: systems.start_careteam("careteam-sqlite", sqlite, "memory://", lay, server),
                ),
                # Asked for by name only (--systems): two processes on the server's one core, viewers and
                # writes dealt to both, so that the broker's cost per write (a notice and a read of the log
                # in the other process) shows against the one-process row.
                "careteam-2p-redis": (
                    pg,
                    lambda lay: systems.start_careteam(
                        "careteam-2p-redis", pg, REDIS_URL, lay, server, processes=2
                    ),
                ),
            }
            for name, (url, make) in clinic_systems.items():
                if (chosen and name not in chosen) or (not chosen and name == "careteam-2p-redis"):
                    continue
                if params.quick and not chosen and name != "careteam-postgres":
                    continue  # quick mode (CI) keeps short: PostgreSQL only
                say(f"\n[clinic-shaped load] {name} (at {time.time() - t0:.0f} s)")
                try:
                    r = clinic.run_system(name, make, url, cores, params)
                    results["clinic"][name] = r  # type: ignore[index]
                    say(f"    {clinic.describe(r)}")
                except Exception as exc:
                    say(f"    FAILED: {exc}")
                    results["clinic_errors"].append(f"clinic {name}: {exc}"[:2000])  # type: ignore[attr-defined]
    finally:
        sqlite_dir.cleanup()
        asyncio.run(systems.drop_pg_database(db))
        asyncio.run(peers.drop_peer_dbs())

    params_dict = dataclasses.asdict(params)  # type: ignore[call-overload]
    results["meta"] = {
        "command": command,
        "started": started,
        "finished": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "duration_s": round(time.time() - t0, 1),
        "machine": machine,
        "versions": _versions(),
        "peer_versions": peers.versions() if "channels" in peers_run else {},
        "load_before": load_before,
        "load_after": loadavg(),
        "pinning": cores.describe(),
        "params": params_dict,
        "knobs": dict(systems.CARETEAM_KNOBS),
        "peers_run": peers_run,
        "peers_skipped": skipped,
        "fd_limit": fds,
        # Statements per request counted without the session lookup (common.counting_statements).
        "statements_session_aside": True,
    }
    results["targets"] = report.targets(results, params_dict)
    results["failures"] = report.failures(results)
    say(report.console(results))
    out_dir = args.out or (Path(tempfile.mkdtemp(prefix="careteam-bench-")) if args.quick else ROOT / "docs")
    md, js = report.write(results, out_dir)
    fails = results["failures"]
    say(f"\nload average after: {results['meta']['load_after']}; took {results['meta']['duration_s']:.0f} s")  # type: ignore[index]
    say(f"wrote {md} and {js}")
    if fails:
        say(f"RUN FAILED: {len(fails)} problem(s):")  # type: ignore[arg-type]
        for f in fails:  # type: ignore[attr-defined]
            say(f"  - {f}")
        return 1
    say("run OK: no frame lost, no write failed")
    return 0


def _machine() -> dict[str, object]:
    import asyncio
    import os
    import platform

    from common import PG_ADMIN_URL, REDIS_URL, python_version

    model = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as f:
        mem_kib = int(f.readline().split()[1])

    async def services() -> tuple[str, str]:
        import asyncpg
        import redis.asyncio as aioredis

        conn = await asyncpg.connect(PG_ADMIN_URL)
        try:
            pg = str(await conn.fetchval("SHOW server_version"))
        finally:
            await conn.close()
        client = aioredis.from_url(REDIS_URL)
        try:
            rv = str((await client.info("server"))["redis_version"])
        finally:
            await client.aclose()
        return pg, rv

    pg, rv = asyncio.run(services())
    return {
        "nproc": os.cpu_count(),
        "cpu_model": model,
        "mem_gib": round(mem_kib / 2**20, 1),
        "os": platform.platform(),
        "python": python_version(),
        "postgres": pg,
        "redis": rv,
    }


def _versions() -> dict[str, str]:
    import importlib.metadata as md

    out = {}
    for name in (
        "careteam",
        "fastapi",
        "starlette",
        "uvicorn",
        "websockets",
        "uvloop",
        "SQLAlchemy",
        "sqlmodel",
        "asyncpg",
        "aiosqlite",
        "redis",
        "orjson",
        "pydantic",
        "httpx",
    ):
        try:
            out[name] = md.version(name)
        except md.PackageNotFoundError:
            continue
    return out


if __name__ == "__main__":
    sys.exit(main())
