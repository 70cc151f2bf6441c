"""One measured session against one system: viewers connected and subscribed, a writer, measured windows.

``Session.window()`` is the unit every figure comes from: reset the viewers' records, write (open loop at
a rate, or closed loop), wait until every expected frame has arrived (or a time-out), then merge the
viewer processes' reports into latencies, delivered/expected and the CPU of both sides.
"""

from __future__ import annotations

import time
from array import array
from dataclasses import dataclass
from typing import Any

import memory
from common import Cores, CpuMeter, ms, percentile, say
from loadgen import LaneSpec, ViewerPool, WriterProc
from systems import System

# A load generator above this share of its one core may be late to read frames: the window is invalid.
LOADGEN_SATURATED = 0.90
WARMUP_VIEWERS = 10
_next_id = [1]


def next_write_ids(n: int = 1_000_000) -> int:
    """A fresh block of write ids (titles ``~w<id>~`` are unique across the whole run)."""
    first = _next_id[0]
    _next_id[0] += n
    return first


@dataclass
class Params:
    quick: bool
    fanout_ns: tuple[int, ...]
    fanout_rate: float
    fanout_seconds: float
    stall_fraction: float
    ramp_n: int
    ramp_rates: tuple[float, ...]
    ramp_seconds: float
    ramp_p99_limit_ms: float
    writes_seconds: float
    writes_viewers: int
    write_plans: int
    write_lanes_per_plan: int
    fanout_lanes: int
    board_sizes: tuple[int, ...]
    board_requests: int
    work_patients: int
    work_tasks: int
    work_requests: int
    memory_ns: tuple[int, ...]
    viewers_per_process: int
    connect_concurrency: int
    settle_seconds: float
    conference_viewers: int
    conference_observers: int
    conference_events: int
    conference_rate: float
    # Part 1c: the fan-out at a large N (#18 item 3), on one process and on the floor.
    fanout_big_n: int = 10_000
    # Part 8: the clinic-shaped mixed load (clinic.py).
    clinic_plans: int = 200
    clinic_tasks: tuple[int, int] = (10, 30)
    clinic_viewers: tuple[int, int] = (5, 20)
    clinic_rate: float = 50
    clinic_seconds: float = 20
    clinic_reads: float = 5
    clinic_churn: float = 0.002
    clinic_gap_s: float = 0.5
    clinic_seed: int = 18


class Session:
    def __init__(self, system: System, cores: Cores, params: Params) -> None:
        self.system = system
        self.params = params
        self.cores = cores
        self.viewers: dict[int, int] = {}  # plan id -> reading viewers
        self.stallable = 0
        self.pool: ViewerPool | None = None
        self.writer = WriterProc(sorted(cores.loadgen))
        self.memory: dict[str, Any] | None = None
        self.connect_seconds = 0.0
        self.connect_cpu_ms = 0.0  # the server's CPU per viewer opened and subscribed

    # --- Viewers ------------------------------------------------------------------------------------

    def _groups(self, per_plan: dict[int, int], *, stall: int = 0) -> list[dict[str, Any]]:
        s = self.system
        groups = []
        for plan_id, count in per_plan.items():
            after = s.last_seq(plan_id) if s.last_seq is not None else None
            # Viewers are split across the system's processes (two ports for the two-process runs).
            for i, port in enumerate(s.ports):
                share = count // len(s.ports) + (1 if i < count % len(s.ports) else 0)
                stalled = stall // len(s.ports) + (1 if i < stall % len(s.ports) else 0) if stall else 0
                base = {
                    "host": "127.0.0.1",
                    "port": port,
                    "path": s.ws_path,
                    "headers": s.ws_headers,
                    "mode": s.ws_mode,
                    "plan_id": plan_id,
                    "after": after,
                }
                if share - stalled > 0:
                    groups.append({**base, "count": share - stalled})
                if stalled:
                    # Small receive buffers, so a viewer that stops reading backs up within a few frames.
                    groups.append({**base, "count": stalled, "stall": True, "rcvbuf": 4096})
        return groups

    def connect(self, per_plan: dict[int, int], *, stall: int = 0, measure_memory: bool = False) -> None:
        n = sum(per_plan.values())
        procs = max(1, -(-n // self.params.viewers_per_process))
        self.pool = ViewerPool(procs, sorted(self.cores.loadgen))
        layout = self.system.layout
        assert layout is not None
        if measure_memory:
            # Warm-up: a few viewers on another plan and one write there, then "before".
            warm_plan = layout.write_plans[-1]
            _, failures, failed = self.pool.connect(self._groups({warm_plan: WARMUP_VIEWERS}))
            if failed:
                raise RuntimeError(f"{self.system.name}: warm-up viewers failed: {failures}")
            warm = self.window(
                {warm_plan: WARMUP_VIEWERS},
                rate=2,
                seconds=1,
                plans=[warm_plan],
                lanes_per_plan=1,
                label="warm-up",
            )
            if warm["writes_failed"] or warm.get("lost"):
                raise RuntimeError(f"{self.system.name}: warm-up failed: {describe_window(warm)}")
            before = memory.rss_sample(self.system, settle=self.params.settle_seconds)
        t0 = time.monotonic()
        server = CpuMeter(self.system.pids)
        _, failures, failed = self.pool.connect(
            self._groups(per_plan, stall=stall), concurrency=self.params.connect_concurrency
        )
        self.connect_seconds = time.monotonic() - t0
        used = server.read()
        self.connect_cpu_ms = used["total"] * used["wall_s"] * 1000 / max(1, n)
        if failed:
            raise RuntimeError(
                f"{self.system.name}: {failed} of {n} viewers could not subscribe: {failures}\n"
                f"{self.system.log_tail()}"
            )
        self.viewers = dict(per_plan)
        self.stallable = stall
        say(
            f"    {n} viewers subscribed in {self.connect_seconds:.1f} s ({procs} viewer process(es)); "
            f"server CPU {self.connect_cpu_ms:.1f} ms a viewer"
        )
        if measure_memory:
            after = memory.rss_sample(self.system, settle=self.params.settle_seconds)
            self.memory = memory.per_connection(before, after, n)
            say(
                f"    RSS {self.memory['rss_before_mib']} -> {self.memory['rss_after_mib']} MiB: "
                f"{self.memory['kib_per_connection']} KiB per connection"
            )

    # --- Writes ---------------------------------------------------------------------------------------

    def lanes(self, plans: list[int], per_plan: int) -> list[LaneSpec]:
        s = self.system
        layout = s.layout
        assert layout is not None
        out = []
        for plan_id in plans:
            for i, task_id in enumerate(layout.lanes[plan_id][:per_plan]):
                port = s.ports[i % len(s.ports)]  # writes alternate between processes, as behind a proxy
                out.append(
                    LaneSpec(
                        s.write_kind,
                        "127.0.0.1",
                        port,
                        plan_id,
                        task_id,
                        layout.versions[task_id],
                        s.http_headers,
                    )
                )
        return out

    def window(
        self,
        expect: dict[int, int] | None,
        *,
        rate: float | None,
        seconds: float,
        plans: list[int],
        lanes_per_plan: int,
        stall: bool = False,
        label: str = "",
        drain_seconds: float = 30.0,
    ) -> dict[str, Any]:
        """Write for ``seconds`` (open loop at ``rate``, or closed loop when rate is None); measure."""
        pool = self.pool
        expect = expect if expect is not None else self.viewers
        if pool is not None:
            pool.broadcast("reset")
            if stall:
                pool.broadcast("stall", True)
        lanes = self.lanes(plans, lanes_per_plan)
        first_id = next_write_ids()
        loadgen = CpuMeter([self.writer.pid, *(pool.pids if pool else [])])
        server = CpuMeter(self.system.pids)
        if rate is None:
            reply = self.writer.call("closed_loop", lanes, seconds, first_id, timeout=seconds + 180)
        else:
            reply = self.writer.call("open_loop", lanes, rate, seconds, first_id, timeout=seconds + 180)
        _, results, versions, error_sample, error_count = reply
        assert self.system.layout is not None
        self.system.layout.versions.update(versions)
        ok = [r for r in results if 200 <= r[4] < 300]
        bad = [r for r in results if not 200 <= r[4] < 300]
        expected = sum(expect.get(r[1], 0) for r in ok) if pool else 0
        # Drain: every expected frame, or no progress for a while.
        received, last_change, last_value = 0, time.monotonic(), -1
        deadline = time.monotonic() + drain_seconds
        while pool is not None and time.monotonic() < deadline:
            received = pool.received()
            if received >= expected and not stall:
                break
            if received != last_value:
                last_value, last_change = received, time.monotonic()
            elif time.monotonic() - last_change > (1.0 if stall and received >= expected else 5.0):
                break
            time.sleep(0.05)
        lg, sv = loadgen.read(), server.read()
        out: dict[str, Any] = {
            "label": label,
            "mode": "open" if rate is not None else "closed",
            "rate_target": rate,
            "seconds": seconds,
            "writes_ok": len(ok),
            "writes_failed": len(bad) + (error_count if not bad else 0),
            "write_errors": error_sample or sorted({str(r[4]) for r in bad})[:5],
            "loadgen_cpu": round(lg["total"], 3),
            "loadgen_cpu_max_process": round(lg["max_process"], 3),
            "server_cpu": round(sv["total"], 3),
            "valid": lg["total"] <= LOADGEN_SATURATED,
        }
        if ok:
            starts = sorted(r[2] for r in ok)
            span = max((starts[-1] - starts[0]) / 1e9, 1e-9)
            out["writes_per_s"] = round((len(ok) - 1) / span, 1) if len(ok) > 1 else None
            resp = sorted(r[3] - r[2] for r in ok)
            out["write_ms_p50"], out["write_ms_p99"] = ms(percentile(resp, 50)), ms(percentile(resp, 99))
            if rate is not None:
                lag = sorted(max(0, r[2] - r[5]) for r in ok)
                out["schedule_lag_ms_p99"] = ms(percentile(lag, 99))
        if pool is not None:
            out.update(self._merge(pool, {r[0]: (r[1], r[2]) for r in ok}, expect, stall))
            out["deliveries_per_s"] = round(out["delivered"] / seconds, 1)
        return out

    def _merge(
        self, pool: ViewerPool, writes: dict[int, tuple[int, int]], expect: dict[int, int], stall: bool
    ) -> dict[str, Any]:
        starts = {w: s for w, (_, s) in writes.items()}
        first: dict[int, int] = {}
        last: dict[int, int] = {}
        count: dict[int, int] = {}
        lat = array("q")
        dupes = stray = stalled_got = 0
        per_plan: dict[int, int] = {}
        for _, rep in pool.broadcast("report", starts, stall, timeout=300):
            for w, t in rep["first"].items():
                first[w] = min(first.get(w, t), t)
            for w, t in rep["last"].items():
                last[w] = max(last.get(w, t), t)
            for w, c in rep["count"].items():
                count[w] = count.get(w, 0) + c
            part = array("q")
            part.frombytes(rep["latencies"])
            lat.extend(part)
            dupes += rep["duplicates"]
            stray += rep["stray"]
            stalled_got += rep["stalled_received"]
            for p, c in rep["viewers_per_plan"].items():
                per_plan[p] = per_plan.get(p, 0) + c
        reading = {p: per_plan.get(p, 0) for p in expect}
        expected = sum(reading.get(plan, 0) for plan, _ in writes.values())
        delivered = sum(count.values())
        firsts = sorted(first[w] - s for w, s in starts.items() if w in first)
        complete = [w for w, (plan, _) in writes.items() if count.get(w, 0) >= reading.get(plan, 0) > 0]
        lasts = sorted(last[w] - starts[w] for w in complete)
        lat_sorted = sorted(lat)
        status = pool.status()
        return {
            "viewers_reading": sum(reading.values()),
            "expected": expected,
            "delivered": delivered,
            "lost": expected - delivered,
            "duplicates": dupes,
            "stray_frames": stray,
            "stalled_viewers": self.stallable if stall else 0,
            "stalled_received": stalled_got,
            "first_ms_p50": ms(percentile(firsts, 50)),
            "first_ms_p99": ms(percentile(firsts, 99)),
            "last_ms_p50": ms(percentile(lasts, 50)),
            "last_ms_p99": ms(percentile(lasts, 99)),
            "delivery_ms_p50": ms(percentile(lat_sorted, 50)),
            "delivery_ms_p99": ms(percentile(lat_sorted, 99)),
            "viewer_status": status,
        }

    def close(self) -> None:
        if self.pool is not None:
            self.pool.stop()
            self.pool = None
        self.writer.stop()


def describe_window(r: dict[str, Any]) -> str:
    parts = [f"{r['writes_ok']} writes"]
    if r.get("writes_per_s") is not None:
        parts.append(f"{r['writes_per_s']}/s")
    if "delivered" in r:
        parts.append(f"delivered {r['delivered']}/{r['expected']}")
        parts.append(f"first p50/p99 {r['first_ms_p50']}/{r['first_ms_p99']} ms")
        parts.append(f"last p50/p99 {r['last_ms_p50']}/{r['last_ms_p99']} ms")
    parts.append(f"write p50/p99 {r.get('write_ms_p50')}/{r.get('write_ms_p99')} ms")
    parts.append(f"server CPU {r['server_cpu']:.0%}, load generator CPU {r['loadgen_cpu']:.0%}")
    if not r["valid"]:
        parts.append("INVALID (load generator saturated)")
    if r["writes_failed"]:
        parts.append(f"{r['writes_failed']} writes FAILED {r['write_errors']}")
    return ", ".join(parts)
