"""Shared helpers of the benchmark: paths, CPU pinning, process CPU and RSS from /proc, percentiles, ports."""

from __future__ import annotations

import contextlib
import os
import resource
import socket
import sys
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent.parent
PEERS_DIR = BENCH / "peers"
HOST = "127.0.0.1"
CLK_TCK = os.sysconf("SC_CLK_TCK")

PG_ADMIN_URL = os.environ.get("BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")


def say(*parts: object) -> None:
    print(*parts, flush=True)


# --- CPUs ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Cores:
    """Which CPU the servers get and which the load generator gets (the same for every system)."""

    server: frozenset[int]
    loadgen: frozenset[int]

    @classmethod
    def pick(cls) -> Cores:
        available = sorted(os.sched_getaffinity(0))
        if len(available) < 2:
            only = frozenset(available)
            return cls(only, only)
        return cls(frozenset({available[0]}), frozenset({available[1]}))

    def describe(self) -> str:
        return f"server on CPU {sorted(self.server)}, load generator on CPU {sorted(self.loadgen)}"


def pin(cpus: Iterable[int], pid: int = 0) -> None:
    with contextlib.suppress(OSError):
        os.sched_setaffinity(pid, set(cpus))


def raise_fd_limit() -> int:
    """As many file descriptors as the hard limit allows (5,000 sockets and their peers)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else 1 << 20
    if soft < target:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


# --- /proc -------------------------------------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of one process (0 if it is gone)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            fields = f.read().rsplit(b")", 1)[1].split()
    except OSError:
        return 0.0
    # After the ")": state is field 3, utime field 14, stime field 15 (1-based in proc(5)).
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def rss_bytes(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def descendants(pid: int) -> list[int]:
    """A process and all its children (uvicorn or daphne may fork)."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        with contextlib.suppress(OSError):
            for task in os.listdir(f"/proc/{p}/task"):
                with contextlib.suppress(OSError), open(f"/proc/{p}/task/{task}/children") as f:
                    todo.extend(int(c) for c in f.read().split())
    return out


class CpuMeter:
    """CPU used by a set of processes over a window, as a fraction of one core."""

    def __init__(self, pids: Sequence[int]) -> None:
        self.pids = list(pids)
        self.t0 = time.perf_counter()
        self.c0 = {p: cpu_seconds(p) for p in self.pids}

    def read(self) -> dict[str, float]:
        wall = max(time.perf_counter() - self.t0, 1e-9)
        per = {p: (cpu_seconds(p) - c) / wall for p, c in self.c0.items()}
        return {"total": sum(per.values()), "max_process": max(per.values(), default=0.0), "wall_s": wall}


def loadavg() -> str:
    try:
        with open("/proc/loadavg") as f:
            return " ".join(f.read().split()[:3])
    except OSError:
        return "?"


# --- Numbers -----------------------------------------------------------------------------------------


def percentile(sorted_values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile of already sorted values (None when there are none)."""
    if not sorted_values:
        return None
    rank = max(1, min(len(sorted_values), int(-(-q * len(sorted_values) // 100))))
    return float(sorted_values[rank - 1])


def ms(ns: float | None) -> float | None:
    return None if ns is None else round(ns / 1e6, 2)


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def wait_port(port: int, proc_alive: object, seconds: float = 60.0) -> None:
    """Until something accepts on 127.0.0.1:port; ``proc_alive()`` false means the server died."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if callable(proc_alive) and not proc_alive():
            raise RuntimeError(f"server on port {port} exited during start-up")
        with contextlib.suppress(OSError), socket.create_connection((HOST, port), timeout=0.5):
            return
        time.sleep(0.1)
    raise TimeoutError(f"nothing listening on port {port} after {seconds}s")


def python_version() -> str:
    return sys.version.split()[0]


async def timed_gets(
    client: Any, url: str, headers: dict[str, str], statements: list[int], n: int, *, warmup: int = 3
) -> tuple[dict[str, Any], Any]:
    """GET ``url`` ``warmup`` + ``n`` times in-process (``statements``: ``counting_statements``'s counter);
    the figures of the last ``n`` (p50/p99, the distinct statement counts, the size) and the last response."""
    times: list[int] = []
    queries: list[int] = []
    for i in range(warmup + n):
        before = statements[0]
        t0 = time.perf_counter_ns()
        r = await client.get(url, headers=headers)
        t1 = time.perf_counter_ns()
        if r.status_code != 200:
            raise RuntimeError(f"GET {url} answered {r.status_code}: {r.text[:300]}")
        if i >= warmup:
            times.append(t1 - t0)
            queries.append(statements[0] - before)
    times.sort()
    figures = {
        "p50_ms": ms(percentile(times, 50)),
        "p99_ms": ms(percentile(times, 99)),
        "queries": sorted(set(queries)),
        "requests": n,
        "bytes": len(r.content),
    }
    return figures, r


@contextlib.contextmanager
def counting_statements(engine: Any) -> Iterator[list[int]]:
    """Count the SQL statements ``engine`` executes (``[n]``, read it as it goes), the session lookup aside:
    the app caches it per process for ``CARETEAM_SESSION_CACHE_SECONDS`` on the real clock, so one request
    in a few seconds reads it again (and once a minute touches it); counted, the same page would read as
    "n, n+1" statements."""
    from sqlalchemy import event

    statements = [0]

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if "auth_session" not in statement:
            statements[0] += 1

    event.listen(engine.sync_engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", count)
