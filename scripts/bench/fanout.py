"""Parts 1, 2 and 5: fan-out latency, sustained throughput, and RSS per idle connection, per system.

For every N, a fresh server: N viewers subscribe to one plan (the case conference), RSS is read before and
after (part 5), then R writes per second go through the system's write path and every viewer's receipt
is timed (part 1). At the ramp's N (1,000) the same viewers then take a rising write rate until the
last-viewer p99 passes the limit (part 2), and finally 1% of them stop reading (the slow-viewer variant).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from common import Cores, say
from session import Params, Session, describe_window
from systems import System

FANOUT_LANES = 4


def sustained(step: dict[str, Any], limit_ms: float) -> bool:
    """A step counts if it is valid, lost nothing, kept its rate, and its last-viewer p99 is in the limit."""
    p99 = step.get("last_ms_p99")
    rate = step.get("rate_target") or 0
    return bool(
        step["valid"]
        and step["lost"] == 0
        and not step["writes_failed"]
        and p99 is not None
        and p99 <= limit_ms
        and (step.get("writes_per_s") or 0) >= 0.9 * rate
    )


def ramp(session: Session, params: Params) -> dict[str, Any]:
    layout = session.system.layout
    assert layout is not None
    steps: list[dict[str, Any]] = []
    best: dict[str, Any] | None = None
    stopped_by = "end of the rate list"
    for rate in params.ramp_rates:
        step = session.window(
            None,
            rate=rate,
            seconds=params.ramp_seconds,
            plans=[layout.fanout_plan],
            lanes_per_plan=params.fanout_lanes,
            label=f"ramp R={rate}",
        )
        steps.append(step)
        ok = sustained(step, params.ramp_p99_limit_ms)
        say(f"    ramp R={rate:g}/s: {'ok ' if ok else 'NO '} {describe_window(step)}")
        if ok:
            best = step
            continue
        if not step["valid"]:
            stopped_by = "the load generator saturated"
        elif step["lost"]:
            stopped_by = f"loss ({step['lost']} frames)"
        elif (step.get("last_ms_p99") or 1e12) > params.ramp_p99_limit_ms:
            stopped_by = f"last-viewer p99 {step.get('last_ms_p99')} ms > {params.ramp_p99_limit_ms:g} ms"
        else:
            stopped_by = f"could not keep the write rate ({step.get('writes_per_s')}/s)"
        break
    return {
        "n": params.ramp_n,
        "p99_limit_ms": params.ramp_p99_limit_ms,
        "steps": steps,
        "best_rate": best["rate_target"] if best else None,
        "best_deliveries_per_s": best["deliveries_per_s"] if best else None,
        "best_last_ms_p99": best["last_ms_p99"] if best else None,
        "stopped_by": stopped_by,
    }


def run_system(
    name: str,
    factory: Callable[[], System],
    cores: Cores,
    params: Params,
    *,
    ns: tuple[int, ...] | None = None,
    do_ramp: bool = True,
    do_stall: bool = True,
    memory: bool = False,
) -> dict[str, Any]:
    """Every fan-out figure of one system; each N on a fresh server."""
    out: dict[str, Any] = {"fanout": {}, "memory": {}, "throughput": None, "stall": None, "errors": []}
    for n in ns or params.fanout_ns:
        say(f"  {name}: N = {n}")
        at_ramp = n == params.ramp_n
        stall = max(1, round(n * params.stall_fraction)) if (at_ramp and do_stall) else 0
        system = factory()
        session = Session(system, cores, params)
        try:
            layout = system.layout
            assert layout is not None
            measure = (memory or n in params.memory_ns) and not (params.quick and len(system.procs) > 1)
            session.connect({layout.fanout_plan: n}, stall=stall, measure_memory=measure)
            if session.memory is not None:
                out["memory"][n] = session.memory
            fan = session.window(
                None,
                rate=params.fanout_rate,
                seconds=params.fanout_seconds,
                plans=[layout.fanout_plan],
                lanes_per_plan=FANOUT_LANES,
                label=f"fanout N={n}",
            )
            fan["connect_seconds"] = round(session.connect_seconds, 1)
            fan["connect_cpu_ms_per_viewer"] = round(session.connect_cpu_ms, 2)
            out["fanout"][n] = fan
            say(f"    fanout R={params.fanout_rate:g}/s: {describe_window(fan)}")
            if at_ramp and do_ramp:
                out["throughput"] = ramp(session, params)
            if stall:
                st = session.window(
                    None,
                    rate=params.fanout_rate,
                    seconds=params.fanout_seconds,
                    plans=[layout.fanout_plan],
                    lanes_per_plan=FANOUT_LANES,
                    stall=True,
                    label=f"stall N={n}",
                )
                out["stall"] = st
                vs = st["viewer_status"]
                say(
                    f"    {stall} viewers stop reading: {describe_window(st)}; stalled viewers got "
                    f"{st['stalled_received']} frames; closed by server: {vs['closed_by_server']} "
                    f"(codes {vs['close_codes']}), resyncs {vs['resyncs']}"
                )
        except Exception as exc:
            say(f"    FAILED: {exc}")
            out["errors"].append(f"N={n}: {exc}"[:2000])
        finally:
            session.close()
            system.stop()
    return out
