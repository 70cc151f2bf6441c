"""Memory per idle subscribed socket: the bench's RSS figure alone, repeated, and where the bytes go.

Two modes, against the same seeded PostgreSQL database (``BENCH_DB`` + ``_mem``, dropped and re-created;
``BENCH_PG_URL`` as for run.py) and with the bench's own load generator, pinning and settle times:

``rss``: part 5 of run.py and nothing else. For each N and each repeat a fresh ``python -m careteam serve``
(and, with ``--systems careteam,floor``, the bare websockets floor) gets the same warm-up and then N
viewers subscribed to one plan; RSS before/after, divided by N. Prints each figure and the medians::

    python scripts/bench/socket_memory.py rss --n 1000,5000 --repeat 3 --systems careteam,floor

``trace``: the server runs in this process (uvicorn on a thread, configured as ``careteam serve`` configures
it: ``cli.server_options``) with ``tracemalloc`` on; the viewers are the load generator's processes, so
their memory is not counted. After the warm-up and again after N viewers have subscribed and settled, it
takes a snapshot (after a full collection) and prints, per socket:

- the traced bytes by what allocated them (the package and module of the innermost frame that is not the
  standard library's, e.g. websockets' protocol and parser, uvicorn's protocol, Starlette's WebSocket and
  scope, FastAPI's dependency solving, careteam's hub), and the top allocation sites (file:line);
- the live objects added, by type (count per socket and bytes per socket, ``sys.getsizeof``);
- the asyncio tasks added per socket, and the chain of coroutine frames one idle handler task keeps
  awaiting, innermost last, with each frame's size.

The process's RSS difference is printed too but tracemalloc's own bookkeeping inflates it: read the RSS
figures from the ``rss`` mode::

    python scripts/bench/socket_memory.py trace --n 1000
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import dataclasses
import gc
import os
import statistics
import sys
import sysconfig
import threading
import time
import tracemalloc
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

WARM_VIEWERS = 10


def _params() -> Any:
    from run import _params as bench_params

    return bench_params(False)


def _seed(db: str) -> tuple[str, Any]:
    import systems

    params = _params()
    asyncio.run(systems.fresh_pg_database(db))
    url = systems.pg_url(db)
    layout = asyncio.run(
        systems.seed_careteam(
            url,
            write_plans=params.write_plans,
            lanes=params.fanout_lanes,
            write_lanes=params.write_lanes_per_plan,
        )
    )
    return url, layout


# --- rss -----------------------------------------------------------------------------------------------


def rss_mode(args: argparse.Namespace) -> int:
    import peers
    import systems
    from common import Cores, pin, raise_fd_limit, say
    from session import Session

    raise_fd_limit()
    cores = Cores.pick()
    pin(cores.loadgen)
    params = dataclasses.replace(_params(), memory_ns=tuple(args.n))
    db = _db_name()
    url, layout = _seed(db)
    factories = {
        "careteam": lambda: systems.start_careteam("careteam", url, "memory://", layout, cores.server),
        "floor": lambda: peers.start_floor(layout, cores.server),
    }
    figures: dict[tuple[str, int], list[float]] = collections.defaultdict(list)
    try:
        for rep in range(args.repeat):
            for n in args.n:
                for name in args.systems:
                    system = factories[name]()
                    session = Session(system, cores, params)
                    try:
                        session.connect({layout.fanout_plan: n}, measure_memory=True)
                        assert session.memory is not None
                        kib = session.memory["kib_per_connection"]
                        figures[(name, n)].append(kib)
                        say(f"  run {rep + 1}: {name} N={n}: {kib} KiB per connection ({session.memory})")
                    finally:
                        session.close()
                        system.stop()
    finally:
        asyncio.run(systems.drop_pg_database(db))
    say("\nKiB of RSS per idle subscribed connection (median of the runs; every run):")
    for (name, n), values in sorted(figures.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        say(f"  {name:9} N={n:5}: {statistics.median(values):5.1f}   {values}")
    return 0


def _db_name() -> str:
    return os.environ.get("BENCH_DB", "careteam_bench") + "_mem"


# --- trace ---------------------------------------------------------------------------------------------

STDLIB = (sysconfig.get_paths()["stdlib"], sysconfig.get_paths()["platstdlib"])


def _where(filename: str) -> str:
    """A short name for the module a frame is in: ``websockets/protocol.py``, ``careteam/realtime/hub.py``."""
    parts = Path(filename).parts
    for anchor in ("site-packages", "careteam"):
        if anchor in parts:
            i = parts.index(anchor)
            rest = parts[i + 1 :] if anchor == "site-packages" else parts[i:]
            return "/".join(rest)
    if filename.startswith(STDLIB):
        return "stdlib/" + Path(filename).name
    return filename


def _owner(tb: tracemalloc.Traceback) -> str:
    """The innermost frame outside the standard library (asyncio's allocations belong to their caller),
    as package/module; the standard library's own when no other frame is there."""
    for frame in reversed(tb):  # Traceback is oldest-first when most_recent_first is False
        if not frame.filename.startswith(STDLIB) and "<frozen" not in frame.filename:
            return _where(frame.filename)
    return _where(tb[-1].filename) if len(tb) else "?"


def _census() -> tuple[collections.Counter[str], collections.Counter[str]]:
    counts: collections.Counter[str] = collections.Counter()
    sizes: collections.Counter[str] = collections.Counter()
    for obj in gc.get_objects():
        t = type(obj)
        name = f"{t.__module__}.{t.__qualname__}" if t.__module__ != "builtins" else t.__qualname__
        counts[name] += 1
        with contextlib.suppress(TypeError):
            sizes[name] += sys.getsizeof(obj)
    return counts, sizes


def _rss() -> int:
    from common import rss_bytes

    return rss_bytes(os.getpid())


def _on_loop(loop: asyncio.AbstractEventLoop, fn: Any) -> Any:
    """Run ``fn()`` on the server's loop thread and return its result."""
    done = threading.Event()
    box: list[Any] = []

    def call() -> None:
        try:
            box.append(fn())
        finally:
            done.set()

    loop.call_soon_threadsafe(call)
    done.wait(30)
    return box[0]


def _chain(coro: Any) -> list[tuple[str, int, str]]:
    """The coroutine frames one task keeps alive, outermost first: (qualname, bytes, where it waits)."""
    out = []
    seen = 0
    while coro is not None and seen < 64:
        seen += 1
        frame = (
            getattr(coro, "cr_frame", None)
            or getattr(coro, "gi_frame", None)
            or getattr(coro, "ag_frame", None)
        )
        where = f"{_where(frame.f_code.co_filename)}:{frame.f_lineno}" if frame is not None else ""
        name = getattr(coro, "__qualname__", type(coro).__name__)
        out.append((name, sys.getsizeof(coro), where))
        coro = (
            getattr(coro, "cr_await", None)
            or getattr(coro, "gi_yieldfrom", None)
            or getattr(coro, "ag_await", None)
        )
        if coro is not None and not hasattr(coro, "cr_frame") and not hasattr(coro, "gi_frame"):
            out.append((f"<{type(coro).__name__}>", sys.getsizeof(coro), ""))
            break
    return out


def trace_mode(args: argparse.Namespace) -> int:
    import faulthandler
    import signal

    faulthandler.register(signal.SIGUSR1)  # kill -USR1 <pid>: every thread's stack, when a run seems stuck
    import systems
    import uvicorn
    from common import Cores, free_port, pin, raise_fd_limit
    from loadgen import ViewerPool
    from session import Session

    from careteam.cli import server_options
    from careteam.settings import Settings

    raise_fd_limit()
    cores = Cores.pick()
    params = _params()
    n = args.n[0]
    db = _db_name()
    url, layout = _seed(db)
    port = free_port()
    os.environ.update(systems.careteam_env(url, "memory://", port))
    settings = Settings()
    config = uvicorn.Config(
        "careteam.app:create_app",
        factory=True,
        host="127.0.0.1",
        port=port,
        **server_options(settings),
        server_header=False,
        access_log=False,
        log_level=os.environ.get("SOCKET_MEMORY_LOG", "warning"),
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="uvicorn", daemon=True)
    thread.start()
    # This (orchestrating) thread stays off the server's CPU; the server thread is pinned to it by the OS
    # only loosely (same process): the figures here are bytes, not times.
    pin(cores.loadgen)
    deadline = time.monotonic() + 300
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the in-process server did not start")
        time.sleep(0.05)
    loop: asyncio.AbstractEventLoop = _on_loop_from(server)
    auth = [("Authorization", f"Bearer {layout.token}")]
    system = systems.System(
        name="careteam (in-process, tracemalloc)",
        procs=[],
        ports=[port],
        ws_headers=auth,
        http_headers=auth,
        layout=layout,
        last_seq=lambda plan_id: asyncio.run(systems.last_seq(url, plan_id)),
    )
    session = Session(system, cores, params)
    pool = session.pool = ViewerPool(max(1, -(-n // params.viewers_per_process)), sorted(cores.loadgen))
    try:
        warm_plan = layout.write_plans[-1]
        _, failures, failed = pool.connect(session._groups({warm_plan: WARM_VIEWERS}))
        if failed:
            raise RuntimeError(f"warm-up viewers failed: {failures}")
        session.window({warm_plan: WARM_VIEWERS}, rate=2, seconds=1, plans=[warm_plan], lanes_per_plan=1)

        def measure() -> tuple[
            tracemalloc.Snapshot, collections.Counter[str], collections.Counter[str], int, int
        ]:
            time.sleep(params.settle_seconds)
            gc.collect()
            tasks = _on_loop(loop, lambda: len(asyncio.all_tasks(loop)))
            counts, sizes = _census()
            snap = tracemalloc.take_snapshot().filter_traces(
                [tracemalloc.Filter(False, tracemalloc.__file__), tracemalloc.Filter(False, __file__)]
            )
            return snap, counts, sizes, tasks, _rss()

        # Traced from here on: the snapshots compare two moments after it, and the first requests' lazy
        # set-up (FastAPI builds its routes' state on first use) would take minutes under tracemalloc.
        tracemalloc.start(args.frames)
        snap0, counts0, sizes0, tasks0, rss0 = measure()
        _, failures, failed = pool.connect(
            # tracemalloc slows every allocation several times over: a long timeout, fewer at once.
            session._groups({layout.fanout_plan: n}),
            concurrency=8,
            timeout=900,
        )
        if failed:
            raise RuntimeError(f"{failed} of {n} viewers could not subscribe: {failures}")
        snap1, counts1, sizes1, tasks1, rss1 = measure()
        chain = _on_loop(loop, lambda: _idle_handler_chain(loop))
        report(n, snap0, snap1, counts0, counts1, sizes0, sizes1, tasks0, tasks1, rss0, rss1, chain, args.top)
    finally:
        session.close()
        server.should_exit = True
        thread.join(30)
        asyncio.run(systems.drop_pg_database(db))
    return 0


def _on_loop_from(server: Any) -> asyncio.AbstractEventLoop:
    """The loop the uvicorn server thread runs (found through one of its server objects)."""
    for srv in server.servers:
        loop = srv.get_loop() if hasattr(srv, "get_loop") else getattr(srv, "_loop", None)
        if loop is not None:
            return loop  # type: ignore[no-any-return]
    raise RuntimeError("no loop found on the uvicorn server")


def _idle_handler_chain(loop: asyncio.AbstractEventLoop) -> list[tuple[str, int, str]]:
    """The await chain of the longest-lived task that runs the /ws handler (the ASGI app of one socket)."""
    best: list[tuple[str, int, str]] = []
    for task in asyncio.all_tasks(loop):
        chain = _chain(task.get_coro())
        if any("live_updates" in name for name, _, _ in chain) and len(chain) > len(best):
            best = chain
    return best


def report(
    n: int,
    snap0: tracemalloc.Snapshot,
    snap1: tracemalloc.Snapshot,
    counts0: collections.Counter[str],
    counts1: collections.Counter[str],
    sizes0: collections.Counter[str],
    sizes1: collections.Counter[str],
    tasks0: int,
    tasks1: int,
    rss0: int,
    rss1: int,
    chain: list[tuple[str, int, str]],
    top: int,
) -> None:
    from common import say

    stats = snap1.compare_to(snap0, "traceback")
    total = sum(s.size_diff for s in stats)
    by_owner: collections.Counter[str] = collections.Counter()
    by_owner_count: collections.Counter[str] = collections.Counter()
    by_site: collections.Counter[str] = collections.Counter()
    by_site_count: collections.Counter[str] = collections.Counter()
    for s in stats:
        owner = _owner(s.traceback)
        by_owner[owner] += s.size_diff
        by_owner_count[owner] += s.count_diff
        inner = s.traceback[-1]
        site = f"{_where(inner.filename)}:{inner.lineno}"
        if inner.filename.startswith(STDLIB):
            site += f"  (from {owner})"
        by_site[site] += s.size_diff
        by_site_count[site] += s.count_diff
    say(f"\n{n} idle subscribed sockets (in-process server, tracemalloc)")
    say(f"  traced Python allocations: {total / n / 1024:.2f} KiB per socket")
    rss = (rss1 - rss0) / n / 1024
    say(f"  process RSS (inflated by tracemalloc's own records): {rss:.2f} KiB per socket")
    say(f"  asyncio tasks: {tasks0} -> {tasks1}: {(tasks1 - tasks0) / n:.2f} per socket")
    say("\n  traced bytes per socket by owner (innermost non-stdlib frame's module):")
    for owner, size in by_owner.most_common():
        if abs(size) / n >= 8:
            say(f"    {size / n:8.0f} B  {by_owner_count[owner] / n:6.2f} blocks  {owner}")
    say(f"\n  top {top} allocation sites, per socket:")
    for site, size in by_site.most_common(top):
        say(f"    {size / n:8.0f} B  {by_site_count[site] / n:6.2f} blocks  {site}")
    say("\n  live objects added per socket, by type (sys.getsizeof; a coroutine includes its frame):")
    rows = []
    for name in set(counts1) | set(counts0):
        dc, ds = counts1[name] - counts0[name], sizes1[name] - sizes0[name]
        if dc / n >= 0.5 or abs(ds) / n >= 32:
            rows.append((ds, dc, name))
    for ds, dc, name in sorted(rows, reverse=True):
        say(f"    {ds / n:8.0f} B  {dc / n:6.2f} objects  {name}")
    say("\n  one idle socket's handler task: the coroutine frames it keeps awaiting (outermost first):")
    frames_total = 0
    for name, size, where in chain:
        frames_total += size
        say(f"    {size:6d} B  {name}  {where}")
    say(f"    {frames_total:6d} B in {len(chain)} objects")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("mode", choices=("rss", "trace"))
    parser.add_argument("--n", default="1000", help="comma-separated numbers of sockets (trace: the first)")
    parser.add_argument("--repeat", type=int, default=3, help="rss: fresh servers per N and system")
    parser.add_argument("--systems", default="careteam", help="rss: careteam and/or floor")
    parser.add_argument("--frames", type=int, default=25, help="trace: frames kept per allocation")
    parser.add_argument("--top", type=int, default=30, help="trace: allocation sites listed")
    args = parser.parse_args(argv)
    args.n = [int(x) for x in args.n.split(",")]
    args.systems = [s for s in args.systems.split(",") if s]
    return rss_mode(args) if args.mode == "rss" else trace_mode(args)


if __name__ == "__main__":
    sys.exit(main())
