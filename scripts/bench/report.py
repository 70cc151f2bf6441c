"""Targets, tables, docs/benchmarks.md and the JSON of the figures."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from common import BENCH

ANALYSIS = BENCH / "ANALYSIS.md"
SYSTEM_LABELS = {
    "careteam": "careteam (1 process)",
    "floor": "floor: bare websockets",
    "channels": "Django Channels",
    "socketio": "python-socketio",
    "careteam-2p-redis": "careteam, 2 processes, Redis",
    "careteam-2p-notify": "careteam, 2 processes, NOTIFY",
}
PEERS = ("floor", "channels", "socketio")


def _statements_header(results: dict[str, Any]) -> str:
    """Runs since the bench counts statements without the session lookup say so (older JSON: with it)."""
    aside = results.get("meta", {}).get("statements_session_aside")
    return "SQL statements/request (session lookup aside)" if aside else "SQL statements/request"


def _get(d: Any, *path: Any) -> Any:
    for key in path:
        if d is None:
            return None
        d = d.get(key) if isinstance(d, dict) else None
    return d


def _fmt(v: Any, unit: str = "") -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        v = f"{v:,.1f}" if abs(v) >= 10 else f"{v:.2f}"
    elif isinstance(v, int):
        v = f"{v:,}"
    return f"{v}{unit}"


# --- Targets ------------------------------------------------------------------------------------------


def targets(results: dict[str, Any], params: dict[str, Any]) -> list[dict[str, Any]]:
    s = results["systems"]
    n, rate = params["ramp_n"], params["fanout_rate"]
    out: list[dict[str, Any]] = []

    def add(
        figure: str, target: str, value: Any, ok: bool | None, peers: dict[str, Any], note: str = ""
    ) -> None:
        out.append(
            {"figure": figure, "target": target, "careteam": value, "ok": ok, "peers": peers, "note": note}
        )

    def fan(system: str, key: str) -> Any:
        return _get(s, system, "fanout", n, key)

    # Issue #18's targets. From write to the first viewer, on an idle server at N = 1,000 (PostgreSQL: the
    # fan-out part's careteam runs on it; SQLite's fan-out is not measured).
    first = _get(s, "careteam", "fanout", n) or {}
    f50, f99 = first.get("first_ms_p50"), first.get("first_ms_p99")
    add(
        f"write to first viewer, N={n:,}, R={rate:g}/s, PostgreSQL: p50 / p99 (ms)",
        "p50 <= 3 ms and p99 <= 10 ms",
        None if f50 is None else f"{_fmt(f50)} / {_fmt(f99)}",
        None if f50 is None or f99 is None else (f50 <= 3 and f99 <= 10),
        {p: _get(s, p, "fanout", n, "first_ms_p50") for p in PEERS},
        "the write's own time is most of it (its p50 is in section 1); SQLite's fan-out is not measured",
    )
    for big_fan in sorted({n, *[m for m in params["fanout_ns"] if m >= n]}):
        floor_p99 = _get(s, "floor", "fanout", big_fan, "last_ms_p99")
        ct_p99 = _get(s, "careteam", "fanout", big_fan, "last_ms_p99")
        add(
            f"fan-out N={big_fan:,}, R={rate:g}/s: last-viewer p99 (ms)",
            f"<= 1.5x floor ({_fmt(1.5 * floor_p99) if floor_p99 else '-'} ms)",
            ct_p99,
            None if ct_p99 is None or floor_p99 is None else ct_p99 <= 1.5 * floor_p99,
            {p: _get(s, p, "fanout", big_fan, "last_ms_p99") for p in PEERS},
            f"{ct_p99 / floor_p99:.2f}x the floor" if ct_p99 and floor_p99 else "",
        )
    ch = _get(s, "channels", "throughput", "best_deliveries_per_s")
    ct = _get(s, "careteam", "throughput", "best_deliveries_per_s")
    note = f"{ct / ch:.1f}x Channels" if ct and ch else ""
    target = f">= 3x Django Channels ({_fmt(3 * ch) if ch else '-'})"
    ch_fan = _get(s, "channels", "fanout", n)
    if ch is None and _get(s, "channels", "throughput") is not None and ch_fan is not None:
        # Channels kept no rate of the ramp, not even the fan-out's R: its figure is below R x N.
        bound = rate * n
        ch = bound
        target = f">= 3x Django Channels (3 x < {_fmt(bound)} = {_fmt(3 * bound)})"
        note = (
            f"Channels sustained no rate tried: at R={rate:g}/s it kept {_fmt(ch_fan.get('writes_per_s'))} "
            f"writes/s, last p99 {_fmt(ch_fan.get('last_ms_p99'))} ms; >= {ct / bound:.0f}x"
            if ct
            else ""
        )
    add(
        f"sustained deliveries/s at N={n:,}, last-viewer p99 <= {params['ramp_p99_limit_ms']:g} ms",
        target,
        ct,
        None if ct is None or ch is None else ct >= 3 * ch,
        {p: _get(s, p, "throughput", "best_deliveries_per_s") for p in PEERS},
        note,
    )
    for conns in params["memory_ns"]:
        kib = _get(s, "careteam", "memory", conns, "kib_per_connection")
        add(
            f"RSS per idle subscribed connection at {conns:,} (KiB)",
            "<= 20 KiB",
            kib,
            None if kib is None else kib <= 20,
            {p: _get(s, p, "memory", conns, "kib_per_connection") for p in PEERS},
        )
    boards = results.get("board", {})
    small = min(params["board_sizes"])
    for backend in ("postgres", "sqlite"):
        for kind in ("json", "html"):
            p50 = _get(boards, backend, small, kind, "p50_ms")
            queries = [
                tuple(_get(boards, backend, size, kind, "queries") or ()) for size in params["board_sizes"]
            ]
            constant = len(set(queries)) == 1 and len(queries[0]) == 1 if queries else False
            add(
                f"board GET {small} tasks, {kind}, {backend}: p50 (ms); queries/request "
                f"at {', '.join(str(x) for x in params['board_sizes'])} tasks",
                "p50 < 15 ms, query count constant",
                p50,
                None if p50 is None else (p50 < 15 and constant),
                {},
                "queries " + " / ".join(",".join(str(q) for q in qs) for qs in queries),
            )
    for backend, w in results.get("work", {}).items():
        for kind in ("json", "html"):
            figures = w.get(kind, {})
            p50 = figures.get("p50_ms")
            small, big = tuple(figures.get("queries_small") or ()), tuple(figures.get("queries") or ())
            constant = small == big and len(big) == 1
            add(
                f"my work first page, {w['patients']} patients, {w['tasks']:,} open tasks, {kind}, "
                f"{backend}: p50 (ms); queries/request",
                "p50 < 50 ms, query count constant",
                p50,
                None if p50 is None else (p50 < 50 and constant),
                {},
                f"queries {','.join(map(str, big))} (at fewer patients: {','.join(map(str, small))})",
            )
    conf, alone = _get(results, "conference", "conference"), _get(results, "conference", "boards")
    if conf:
        p99 = conf.get("last_ms_p99")
        add(
            f"case conference, {conf['viewers']} read-only viewers of the agenda and its boards: "
            "last-viewer p99 (ms); every event once, in order",
            "p99 < 1000 ms (every screen follows within a second), none lost or duplicated",
            p99,
            None
            if p99 is None or not conf["valid"]
            else (
                p99 < 1000
                and not conf["lost"]
                and not conf["duplicates"]
                and not conf["out_of_order_viewers"]
            ),
            {},
            f"boards alone, same viewers: last p99 {_fmt(_get(alone, 'last_ms_p99'))} ms",
        )
    big_n = params.get("fanout_big_n") or 10_000
    big = results.get("fanout10k") or {}
    w = _get(big, "careteam", "fanout", big_n)
    fl = _get(big, "floor", "fanout", big_n)
    p99, floor_big = _get(w, "last_ms_p99"), _get(fl, "last_ms_p99")
    if not big:
        note = "not measured in this run"
    else:
        note = (f"{p99 / floor_big:.2f}x the floor; " if p99 and floor_big else "floor not measured; ") + (
            f"writes kept {_fmt(w.get('writes_per_s'))}/s of {rate:g}, lost {w['lost']}, valid "
            f"{'yes' if w['valid'] else 'NO'}"
            if w
            else "careteam not measured"
        )
    add(
        f"fan-out N={big_n:,} on one process, R={rate:g}/s: last-viewer p99 (ms); 0 loss",
        "p99 < 1000 ms and <= 1.5x the floor at the same N"
        + (f" ({_fmt(1.5 * floor_big)} ms)" if floor_big else ""),
        p99,
        None
        if p99 is None or floor_big is None or not w["valid"]
        else (
            p99 < 1000
            and p99 <= 1.5 * floor_big
            and not w["lost"]
            and not w["writes_failed"]
            and (w.get("writes_per_s") or 0) >= 0.9 * rate
        ),
        {"floor": floor_big},
        note,
    )
    clinic = results.get("clinic") or {}
    for system, label in (("careteam-postgres", "PostgreSQL"), ("careteam-sqlite", "SQLite")):
        c = clinic.get(system)
        if c is None and (system != "careteam-postgres" or clinic):
            continue  # SQLite only when measured; PostgreSQL's row says "not measured" on an older run
        shape = (
            f"{c['plans']} plans, {c['viewers']:,} viewers, {c['rate_target']:g} writes/s, "
            f"{c['reads_per_s']:g} board reads/s, {c['reconnects_per_s']:g} reconnects/s"
            if c
            else f"{params.get('clinic_plans', 200)} plans"
        )
        add(
            f"clinic-shaped load ({shape}), {label}: write-to-last-viewer p99 (ms); loss; errors",
            "p99 < 50 ms, 0 lost, 0 errors",
            _get(c, "last_ms_p99"),
            None
            if c is None or c["last_ms_p99"] is None or not c["valid"]
            else (c["last_ms_p99"] < 50 and not c["lost"] and not c["duplicates"] and not c["errors"]),
            {},
            (
                f"lost {c['lost']}, duplicates {c['duplicates']}, errors {c['errors']}; last viewer with "
                f"replays p99 {_fmt(c['last_all_ms_p99'])} ms; first p99 {_fmt(c['first_ms_p99'])} ms"
                + ("" if c["valid"] else "; INVALID (load generator saturated)")
            )
            if c
            else "not measured in this run",
        )
    writes = results.get("writes", {})
    for system, label, floor_ in (
        ("careteam-sqlite", "SQLite", 1000),
        ("careteam-postgres", "PostgreSQL", 800),
    ):
        none = _get(writes, system, "none", "writes_per_s")
        v = _get(writes, system, "viewers", "writes_per_s")
        add(
            f"task updates/s, {label}, one process, no viewer",
            f">= {floor_:,}/s",
            none,
            None if none is None else none >= floor_,
            {},
            _cpu_note(_get(writes, system, "none", "server_cpu")),
        )
        add(
            f"task updates/s, {label}, with {params['writes_viewers']:,} viewers attached",
            f">= 90% of no viewer ({_fmt(0.9 * none) if none else '-'}/s)",
            v,
            None if v is None or none is None else v >= 0.9 * none,
            {p: _get(writes, p, "viewers", "writes_per_s") for p in PEERS} if label == "PostgreSQL" else {},
            f"{v / none:.0%} of no viewer" if v and none else "",
        )
    return out


def _cpu_note(cpu: float | None) -> str:
    """The server's share of its core in a closed-loop window (PostgreSQL shares the machine's two)."""
    return "" if cpu is None else f"server CPU {cpu:.0%} of its core"


def failures(results: dict[str, Any]) -> list[str]:
    """What fails the run: careteam losing or duplicating a frame, a failed careteam write, a system that
    could not be measured. A peer that is too slow to deliver within the drain window is a figure of that
    peer (listed by :func:`peer_findings`), not a broken run."""
    out = []
    for name, r in results["systems"].items():
        out += [f"{name}: {e}" for e in r.get("errors", [])]
        if not name.startswith("careteam"):
            continue
        for w in _windows(r):
            if w.get("lost"):
                out.append(f"{name} {w['label']}: lost {w['lost']} of {w['expected']} frames")
            if w.get("duplicates"):
                out.append(f"{name} {w['label']}: {w['duplicates']} duplicate frames")
        for w in r.get("fanout", {}).values():
            if w.get("writes_failed"):
                out.append(f"{name} {w['label']}: {w['writes_failed']} writes failed {w['write_errors']}")
    for name, r in results.get("writes", {}).items():
        out += [f"writes {name}: {e}" for e in r.get("errors", [])]
        w = r.get("viewers")
        if name.startswith("careteam") and w and w.get("lost"):
            out.append(f"writes {name}: lost {w['lost']} of {w['expected']} frames")
    for name, r in (results.get("fanout10k") or {}).items():
        out += [f"fan-out 10k {name}: {e}" for e in r.get("errors", [])]
        for w in r.get("fanout", {}).values():
            if name.startswith("careteam") and (w.get("lost") or w.get("duplicates")):
                out.append(f"{name} {w['label']}: lost {w['lost']}, {w['duplicates']} duplicate frames")
            if name.startswith("careteam") and w.get("writes_failed"):
                out.append(f"{name} {w['label']}: {w['writes_failed']} writes failed {w['write_errors']}")
    out += results.get("clinic_errors", [])
    for name, c in (results.get("clinic") or {}).items():
        if c["lost"] or c["duplicates"] or c["errors"]:
            out.append(
                f"clinic {name}: lost {c['lost']} of {c['expected']} frames, {c['duplicates']} duplicates, "
                f"{c['errors']} errors (writes {c['writes_failed']} {c['write_errors']}, reads "
                f"{c['reads_failed']} {c['read_errors']}, reconnects {c['reconnects_failed']} "
                f"{c['reconnect_errors']}, error frames {c['error_frames']} {c['first_error_frame']!r}, "
                f"resyncs {c['resyncs']}, closed by server {c['closed_by_server']}, server tracebacks "
                f"{c['server_tracebacks']})"
            )
    out += results.get("board_errors", [])
    out += results.get("work_errors", [])
    out += results.get("conference_errors", [])
    for key in ("conference", "boards"):
        w = _get(results, "conference", key)
        if not w:
            continue
        if w["lost"] or w["duplicates"] or w["out_of_order_viewers"]:
            out.append(
                f"case conference, {w['label']}: lost {w['lost']} of {w['expected']} frames, "
                f"{w['duplicates']} duplicates, {w['out_of_order_viewers']} viewers out of order"
            )
        if w["writes_failed"]:
            out.append(
                f"case conference, {w['label']}: {w['writes_failed']} writes failed {w['write_errors']}"
            )
    return out


def _windows(r: dict[str, Any]) -> list[dict[str, Any]]:
    found = [*r.get("fanout", {}).values(), r.get("stall"), *(_get(r, "throughput", "steps") or [])]
    return [w for w in found if w]


def peer_findings(results: dict[str, Any]) -> list[str]:
    out = []
    for name, r in [*results["systems"].items(), *(results.get("fanout10k") or {}).items()]:
        if name.startswith("careteam"):
            continue
        for w in _windows(r):
            if w.get("lost") or w.get("duplicates") or w.get("writes_failed"):
                out.append(
                    f"{name} {w['label']}: {w.get('lost', 0):,} of {w.get('expected', 0):,} frames not "
                    f"delivered within the drain window, {w.get('duplicates', 0)} duplicates, "
                    f"{w.get('writes_failed', 0)} failed writes"
                )
    for name, r in results.get("writes", {}).items():
        w = r.get("viewers")
        if not name.startswith("careteam") and w and (w.get("lost") or w.get("writes_failed")):
            out.append(f"writes {name}: {w.get('lost', 0):,} frames undelivered, {w['writes_failed']} failed")
    return out


# --- Tables ---------------------------------------------------------------------------------------------


def _table(head: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(_fmt(c) if not isinstance(c, str) else c for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _ok(v: bool | None) -> str:
    return "-" if v is None else ("**yes**" if v else "**NO**")


def tables(results: dict[str, Any]) -> str:
    params = results["meta"]["params"]
    s = results["systems"]
    names = [n for n in SYSTEM_LABELS if n in s]
    parts = []

    rows = []
    for t in results["targets"]:
        peers = t["peers"]
        rows.append(
            [
                t["figure"],
                t["target"],
                _fmt(t["careteam"]),
                _ok(t["ok"]),
                *(_fmt(peers.get(p)) for p in PEERS),
                t["note"],
            ]
        )
    parts.append(
        "### Targets\n\n"
        + _table(["figure", "target", "careteam", "met", "floor", "Channels", "Socket.IO", "note"], rows)
    )

    rows = []
    for n in params["fanout_ns"]:
        for name in names:
            w = _get(s, name, "fanout", n)
            if not w:
                continue
            rows.append(
                [
                    f"{n:,}",
                    SYSTEM_LABELS[name],
                    w.get("first_ms_p50"),
                    w.get("first_ms_p99"),
                    w.get("last_ms_p50"),
                    w.get("last_ms_p99"),
                    w.get("delivery_ms_p99"),
                    f"{w['delivered']:,}/{w['expected']:,}",
                    w.get("write_ms_p50"),
                    f"{w['server_cpu']:.0%}",
                    f"{w['loadgen_cpu']:.0%}",
                    "yes" if w["valid"] else "**INVALID**",
                ]
            )
    parts.append(
        f"### 1. Fan-out: N viewers on one plan, R = {params['fanout_rate']:g} writes/s for "
        f"{params['fanout_seconds']:g} s (ms from the start of the write)\n\n"
        + _table(
            [
                "N",
                "system",
                "first p50",
                "first p99",
                "last p50",
                "last p99",
                "any p99",
                "delivered/expected",
                "write p50",
                "server CPU",
                "loadgen CPU",
                "valid",
            ],
            rows,
        )
    )

    parts.append(_fanout_big(results))

    rows = []
    for name in names:
        w = _get(s, name, "stall")
        if not w:
            continue
        vs = w["viewer_status"]
        rows.append(
            [
                SYSTEM_LABELS[name],
                w["stalled_viewers"],
                w.get("last_ms_p50"),
                w.get("last_ms_p99"),
                f"{w['delivered']:,}/{w['expected']:,}",
                w["stalled_received"],
                f"{vs['closed_by_server']} ({', '.join(map(str, vs['close_codes'])) or '-'})",
                vs["resyncs"],
                "yes" if w["valid"] else "**INVALID**",
            ]
        )
    if rows:
        parts.append(
            f"### 1b. Slow viewers: {params['stall_fraction']:.0%} of N = {params['ramp_n']:,} stop reading "
            "(4 KiB receive buffer), the others' latency\n\n"
            + _table(
                [
                    "system",
                    "stalled",
                    "last p50",
                    "last p99",
                    "delivered/expected (readers)",
                    "frames to stalled",
                    "closed by server (codes)",
                    "resyncs",
                    "valid",
                ],
                rows,
            )
        )

    rows = []
    for name in names:
        t = _get(s, name, "throughput")
        if not t:
            continue
        steps = " ".join(
            f"{st['rate_target']:g}:{_fmt(st.get('last_ms_p99'))}{'' if st['valid'] else '(inv)'}"
            for st in t["steps"]
        )
        rows.append(
            [
                SYSTEM_LABELS[name],
                t["best_rate"],
                t["best_deliveries_per_s"],
                t["best_last_ms_p99"],
                t["stopped_by"],
                steps,
            ]
        )
    parts.append(
        f"### 2. Throughput at N = {params['ramp_n']:,}: highest write rate whose last-viewer p99 stays "
        f"<= {params['ramp_p99_limit_ms']:g} ms, no loss, rate kept, load generator valid "
        f"({params['ramp_seconds']:g} s per step)\n\n"
        + _table(
            [
                "system",
                "writes/s",
                "deliveries/s",
                "last p99 (ms)",
                "ramp stopped by",
                "steps (writes/s: last p99 ms)",
            ],
            rows,
        )
    )

    rows = []
    for n in params["memory_ns"]:
        for name in names:
            m = _get(s, name, "memory", n)
            if m:
                rows.append(
                    [
                        f"{n:,}",
                        SYSTEM_LABELS[name],
                        m["rss_before_mib"],
                        m["rss_after_mib"],
                        m["kib_per_connection"],
                    ]
                )
    parts.append(
        "### 5. Memory: server RSS per idle subscribed connection\n\n"
        + _table(["connections", "system", "RSS before (MiB)", "RSS after (MiB)", "KiB per connection"], rows)
    )

    rows = []
    for name, r in results.get("writes", {}).items():
        for key, label in (("none", "no viewer"), ("viewers", f"{params['writes_viewers']:,} viewers")):
            w = r.get(key)
            if not w:
                continue
            rows.append(
                [
                    name,
                    label,
                    w.get("writes_per_s"),
                    w.get("write_ms_p50"),
                    w.get("write_ms_p99"),
                    f"{w['delivered']:,}/{w['expected']:,}" if "delivered" in w else "-",
                    f"{w['server_cpu']:.0%}",
                    f"{w['loadgen_cpu']:.0%}",
                    w["writes_failed"],
                ]
            )
    lanes = params["write_plans"] * params["write_lanes_per_plan"]
    parts.append(
        f"### 3. Writes: PATCH /api/v1/tasks/{{id}} with If-Match, closed loop, {lanes} writers over "
        f"{params['write_plans']} plans, {params['writes_seconds']:g} s; viewers spread over those plans\n\n"
        + _table(
            [
                "system",
                "viewers",
                "updates/s",
                "p50 (ms)",
                "p99 (ms)",
                "delivered/expected",
                "server CPU",
                "loadgen CPU",
                "failed",
            ],
            rows,
        )
    )

    rows = []
    for backend, sizes in results.get("board", {}).items():
        for size, kinds in sizes.items():
            for kind, b in kinds.items():
                rows.append(
                    [
                        backend,
                        f"{size:,}",
                        kind,
                        b["p50_ms"],
                        b["p99_ms"],
                        ", ".join(map(str, b["queries"])),
                        f"{b['bytes'] // 1024:,} KiB",
                    ]
                )
    parts.append(
        f"### 4. Board GET, in-process (httpx ASGITransport), {params['board_requests']} requests each\n\n"
        + _table(
            [
                "database",
                "tasks",
                "as",
                "p50 (ms)",
                "p99 (ms)",
                _statements_header(results),
                "size",
            ],
            rows,
        )
    )
    rows = []
    for backend, w in results.get("work", {}).items():
        for kind in ("json", "html"):
            f = w[kind]
            rows.append(
                [
                    backend,
                    f"{w['patients']}",
                    f"{w['tasks']:,}",
                    kind,
                    f["p50_ms"],
                    f["p99_ms"],
                    ", ".join(map(str, f["queries"])),
                    ", ".join(map(str, f["queries_small"])),
                    f"{f['bytes'] // 1024:,} KiB",
                ]
            )
    if rows:
        parts.append(
            "### 6. My work, first page (50 rows), in-process, "
            f"{params.get('work_requests', '-')} requests each\n\n"
            + _work_run(results.get("work_run"))
            + _table(
                [
                    "database",
                    "patients",
                    "open tasks",
                    "as",
                    "p50 (ms)",
                    "p99 (ms)",
                    _statements_header(results),
                    "at a tenth of the patients",
                    "size",
                ],
                rows,
            )
        )
    rows = [
        [
            w["label"],
            f"{w['viewers']:,} x {w['streams_per_viewer']}",
            f"{w['writes']} ({w['advances']} advances)",
            w["writes_per_s"],
            w["any_ms_p50"],
            w["any_ms_p99"],
            w["last_ms_p50"],
            w["last_ms_p99"],
            f"{w['delivered']:,} / {w['expected']:,}",
            f"{w['lost']} / {w['duplicates']} / {w['out_of_order_viewers']}",
            w["kib_per_viewer"],
            f"{w['loadgen_cpu']:.0%}" + ("" if w["valid"] else " INVALID"),
        ]
        for key in ("conference", "boards")
        if (w := _get(results, "conference", key))
    ]
    if rows:
        parts.append(
            "### 7. Case conference: read-only viewers following the agenda and its two boards, "
            "PostgreSQL, one process\n\n"
            "Observers off the care team (the agenda's plans lent to them) on `conference:<id>` and both "
            "plans; every fourth write advances the agenda, the others edit a task. *boards alone*: the same "
            "viewers on the two plans only, as many writes, all task edits (the board's own fan-out, beside "
            "it in the same run). Latency from the write's start to the frame's receipt.\n\n"
            + _work_run(_get(results, "conference", "run"), what="")
            + _table(
                [
                    "window",
                    "viewers x streams",
                    "writes",
                    "writes/s",
                    "any p50 (ms)",
                    "any p99 (ms)",
                    "last p50 (ms)",
                    "last p99 (ms)",
                    "delivered",
                    "lost / dup / disorder",
                    "server KiB a viewer",
                    "load generator CPU",
                ],
                rows,
            )
        )
    parts.append(_clinic(results))
    return "\n\n".join(parts)


def _fanout_big(results: dict[str, Any]) -> str:
    params = results["meta"]["params"]
    n = params.get("fanout_big_n") or 10_000
    head = (
        f"### 1c. Fan-out at N = {n:,} viewers on one process (and the floor at the same N), "
        f"R = {params['fanout_rate']:g} writes/s for {params['fanout_seconds']:g} s\n\n"
    )
    big = results.get("fanout10k") or {}
    if not big:
        return head + "Not measured in this run (part `fanout10k`)."
    rows = []
    for name in ("careteam", "floor"):
        r = big.get(name)
        if r is None:
            continue
        w, m = _get(r, "fanout", n), _get(r, "memory", n)
        if not w:
            rows.append(
                [SYSTEM_LABELS[name], "**failed**: " + "; ".join(r.get("errors", []))[:300]] + ["-"] * 11
            )
            continue
        rows.append(
            [
                SYSTEM_LABELS[name],
                f"{_fmt(w.get('connect_seconds'))} ({_fmt(w.get('connect_cpu_ms_per_viewer'))})",
                f"{_fmt(w.get('writes_per_s'))} ({_fmt(w.get('write_ms_p50'))})",
                w.get("first_ms_p50"),
                w.get("first_ms_p99"),
                w.get("last_ms_p50"),
                w.get("last_ms_p99"),
                w.get("delivery_ms_p99"),
                f"{w['delivered']:,}/{w['expected']:,}",
                f"{w['server_cpu']:.0%}",
                f"{w['loadgen_cpu']:.0%} (max process {w.get('loadgen_cpu_max_process', 0):.0%})",
                _fmt(_get(m, "kib_per_connection")) + (f" ({m['rss_after_mib']} MiB)" if m else ""),
                "yes" if w["valid"] else "**INVALID**",
            ]
        )
    procs = -(-n // params["viewers_per_process"])
    return (
        head
        + f"Viewers in {procs} load-generator process(es) of at most {params['viewers_per_process']:,}, all "
        "on the load generator's CPU (valid while their CPU together stays under 90% of it); a fresh server "
        "per system; RSS per connection measured as section 5.\n\n"
        + _table(
            [
                "system",
                "connect s (server CPU ms a viewer)",
                "writes/s kept (write p50 ms)",
                "first p50",
                "first p99",
                "last p50",
                "last p99",
                "any p99",
                "delivered/expected",
                "server CPU",
                "loadgen CPU",
                "KiB per connection (RSS)",
                "valid",
            ],
            rows,
        )
    )


def _clinic(results: dict[str, Any]) -> str:
    params = results["meta"]["params"]
    head = "### 8. Clinic-shaped mixed load, one careteam process\n\n"
    clinic = results.get("clinic") or {}
    errors = results.get("clinic_errors") or []
    if not clinic and not errors:
        return head + "Not measured in this run (part `clinic`)."
    tasks = params.get("clinic_tasks", (10, 30))
    viewers = params.get("clinic_viewers", (5, 20))
    text = (
        f"{params.get('clinic_plans')} patients, each with a care team (a charge nurse and three of 20 "
        f"clinicians) and one plan of {tasks[0]}-{tasks[1]} tasks; {viewers[0]}-{viewers[1]} viewers per "
        f"plan (seed {params.get('clinic_seed')}), each signed in as one of its team. For "
        f"{params.get('clinic_seconds'):g} s at once: {params.get('clinic_rate'):g} PATCHes/s (If-Match) "
        f"spread over the plans, {params.get('clinic_reads'):g} board reads/s (JSON and page in turn), and "
        f"{params.get('clinic_churn', 0):.1%} of the viewers a second closing their socket and reconnecting "
        f"after the browser's first back-off ({params.get('clinic_gap_s'):g} s, jittered) with the last seq "
        "they got. *first*/*last*: the first/last viewer of the written plan among the viewers connected "
        "when it was published (ms from the write's start); *last, with replays*: counting the reconnected "
        "viewers' replays too; *replay*: the latency of the frames a reconnected viewer got as its replay. "
        "*errors*: writes and reads not 2xx, failed reconnects, `error`/`resync` frames, sockets closed by "
        "the server, server tracebacks. *server CPU (connected, idle)*: over the load, and before it with "
        "the viewers connected and nothing else happening (the hub's access re-check: one query per watched "
        "plan every `CARETEAM_WS_ACCESS_RECHECK_SECONDS`; its sweep; heartbeats).\n\n"
    )
    rows = []
    for name, c in clinic.items():
        rows.append(
            [
                name,
                f"{c['plans']} / {c['tasks']:,} / {c['viewers']:,}",
                f"{c['writes_ok']} ({_fmt(c['writes_per_s'])}/s)",
                f"{_fmt(c['write_ms_p50'])} / {_fmt(c['write_ms_p99'])}",
                f"{_fmt(c['first_ms_p50'])} / {_fmt(c['first_ms_p99'])}",
                f"{_fmt(c['last_ms_p50'])} / {_fmt(c['last_ms_p99'])}",
                _fmt(c["last_all_ms_p99"]),
                f"{c['delivered']:,}/{c['expected']:,} ({c['replayed_deliveries']:,} replayed)",
                f"{_fmt(c['replay_ms_p50'])} / {_fmt(c['replay_ms_p99'])}",
                " ; ".join(
                    f"{k} {_fmt(v['p50_ms'])} / {_fmt(v['p99_ms'])} ({v['kib_p50']} KiB)"
                    for k, v in c["reads"].items()
                ),
                f"{c['reconnects']} ({_fmt(c['reconnects_per_s'])}/s, {c.get('reconnects_retried', 0)} "
                "retried): "
                f"{_fmt(c['reconnect_ms_p50'])} / {_fmt(c['reconnect_ms_p99'])}",
                f"{c['lost']} / {c['duplicates']} / {c['errors']}",
                f"{c['server_cpu']:.0%} ({c.get('server_cpu_idle', 0):.0%})",
                f"{c['loadgen_cpu']:.0%}" + ("" if c["valid"] else " INVALID"),
            ]
        )
    out = head + text
    if rows:
        out += _table(
            [
                "system",
                "plans / tasks / viewers",
                "writes",
                "write p50 / p99",
                "first p50 / p99",
                "last p50 / p99",
                "last, with replays, p99",
                "delivered",
                "replay p50 / p99",
                "board reads p50 / p99",
                "reconnects: open to subscribed p50 / p99",
                "lost / dup / errors",
                "server CPU (connected, idle)",
                "loadgen CPU",
            ],
            rows,
        )
    if errors:
        out += "\n\n" + "\n".join(f"- failed: {e}" for e in errors)
    return out


def _work_run(run: dict[str, Any] | None, what: str | None = None) -> str:
    if not run:
        return ""
    return (
        f"Measured by `{run['command']}` from {run['started']} on {run.get('machine', '?')}; "
        "load average before "
        f"{run.get('load_before', '?')}, after {run.get('load_after', '?')}."
        + (_WORK_SETUP if what is None else what)
        + "\n\n"
    )


_WORK_SETUP = (
    " A clinician (a nurse) on the "
    "care teams of that many patients, each with one plan whose open tasks are all hers (assigned to "
    "her or unassigned in the nursing lane) and as many again that are not (done, or another lane's), "
    "and a referral waiting in the nurses' pool (hers to answer) and one in the physios' (not hers); "
    "the open tasks column counts tasks, the list has the referrals too; the statements are counted "
    "at a tenth of the patients too."
)


def console(results: dict[str, Any]) -> str:
    lines = ["", "=" * 100, "FIGURES AGAINST TARGETS (careteam | floor | Channels | Socket.IO)", "=" * 100]
    for t in results["targets"]:
        peers = " | ".join(_fmt(t["peers"].get(p)) for p in PEERS)
        verdict = {None: "n/a", True: "MET", False: "NOT MET"}[t["ok"]]
        lines.append(
            f"{verdict:8} {t['figure']}: {_fmt(t['careteam'])} (target {t['target']}) | "
            f"peers {peers} {t['note']}"
        )
    lines.append("")
    lines.append(tables(results))
    return "\n".join(lines)


def markdown(results: dict[str, Any]) -> str:
    meta = results["meta"]
    m = meta["machine"]
    params = meta["params"]
    libs = ", ".join(f"{k} {v}" for k, v in meta["versions"].items())
    peer_libs = ", ".join(f"{k} {v}" for k, v in meta.get("peer_versions", {}).items()) or "not built"
    lines = [
        "# Benchmarks: careteam beside the peers, in one run",
        "",
        "Generated by `scripts/bench/run.py` (do not edit the figures by hand; the analysis at the end is",
        "kept in `scripts/bench/ANALYSIS.md`). The figures of this run are also in "
        f"`{meta.get('json_name', 'benchmarks.json')}`.",
        "",
        "## How it was run",
        "",
        f"- Command: `{meta['command']}` ({'quick' if params['quick'] else 'full'} mode), "
        f"{meta['started']} to {meta['finished']} ({meta['duration_s']:.0f} s).",
        f"- Machine: {m['nproc']} CPUs ({m['cpu_model']}), {m['mem_gib']} GiB memory, {m['os']}; "
        f"PostgreSQL {m.get('postgres', '?')}, Redis {m.get('redis', '?')}.",
        f"- Load average (1, 5, 15 min) before: {meta['load_before']}; after: {meta['load_after']}. "
        "The machine is shared with other engineers' test runs; PostgreSQL and Redis are not pinned.",
        f"- Pinning: {meta['pinning']}; every server process and every load-generator process is pinned "
        "with `sched_setaffinity` from its start, the same for careteam and the peers.",
        f"- Python {m['python']}; careteam side: {libs}.",
        f"- Peers' environment (`scripts/bench/.peers-venv`): {peer_libs}.",
        "- careteam servers: `python -m careteam serve` with "
        + ", ".join(f"{k}={v}" for k, v in meta["knobs"].items())
        + "; "
        "one bearer token shared by all viewers and writers (a nurse on the plan's care team).",
        f"- Peers run: {', '.join(meta['peers_run']) or 'none'}."
        + (f" Skipped: {meta['peers_skipped']}." if meta.get("peers_skipped") else ""),
        "",
        "## Parameters",
        "",
        "```",
        *(f"{k} = {v}" for k, v in params.items()),
        "```",
        "",
        "Method: viewers are raw asyncio websocket clients (hand-written handshake and frame parser, no JSON",
        "decoding, compression off) in load-generator processes; writers keep one keep-alive connection per",
        "task. A write's start is `perf_counter_ns()` just before its request is written; a receipt is",
        "`perf_counter_ns()` when its bytes arrive; frames are matched to writes by a `~w<id>~` marker in",
        "the task title. *first*/*last*: the first/last viewer's receipt of each write, p50/p99 over writes;",
        "*any*: every delivery. A window whose load generator used more than 90% of its CPU is INVALID.",
        "",
        "## Figures",
        "",
        tables(results),
        "",
    ]
    fails = results.get("failures") or []
    lines += ["## Failures of this run", ""]
    lines += [f"- {f}" for f in fails] if fails else ["None: careteam lost no frame and failed no write."]
    findings = peer_findings(results)
    if findings:
        lines += ["", "Peers that did not keep up (their figures, not a failure of the run):", ""]
        lines += [f"- {f}" for f in findings]
    lines += [""]
    if ANALYSIS.exists():
        lines += [ANALYSIS.read_text().strip(), ""]
    return "\n".join(lines)


def revive(results: dict[str, Any]) -> dict[str, Any]:
    """JSON turned the integer keys (N, connections, tasks) into strings: turn them back."""

    def fix(d: Any) -> Any:
        if isinstance(d, dict):
            return {(int(k) if isinstance(k, str) and k.isdigit() else k): fix(v) for k, v in d.items()}
        if isinstance(d, list):
            return [fix(v) for v in d]
        return d

    return fix(results)  # type: ignore[no-any-return]


def write(results: dict[str, Any], out_dir: Path) -> tuple[Path, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    md, js = out_dir / "benchmarks.md", out_dir / "benchmarks.json"
    results["meta"]["json_name"] = str(js.name)
    js.write_text(json.dumps(results, indent=1, default=str) + "\n")
    md.write_text(markdown(results))
    return md, js
