"""The Prometheus instruments: what careteam counts, and the few calls that count it.

Every layer that has something to count calls a function here (the access middleware, the realtime hub and
brokers, the job runner); ``careteam.web.metrics`` serves them at ``GET /metrics`` when
``CARETEAM_METRICS`` is on. Counting does not depend on the setting: an increment is a lock and an add,
cheaper than a branch on a setting would save, and the hub counts per fan-out batch, never per socket.

Labels are bounded: a route's template (``/api/v1/plans/{plan_id}``), never its path; the standard HTTP
methods (any other is ``other``); a stream's kind (``plan``), never its id; a job's declared name. Nothing
here may name a patient or a user.

Several worker processes (``careteam serve --workers N``) share one port, so a scrape reaches whichever
worker accepts it: ``careteam serve`` then runs prometheus-client's multiprocess mode
(``PROMETHEUS_MULTIPROC_DIR``, one directory per start), each worker writes its values to files there and
``/metrics`` sums them. The gauges are "livesum" (live processes only); :func:`forget_dead_workers` drops
those of a worker that died, whose counters stay in the sums (docs/operations.md).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Final

from prometheus_client import Counter, Gauge, Histogram
from prometheus_client.multiprocess import mark_process_dead

# The environment variable prometheus-client reads at import time to write values to files.
MULTIPROC_DIR: Final = "PROMETHEUS_MULTIPROC_DIR"

# Seconds. Requests: a write takes about 3 ms of CPU, a board page tens of ms; beyond a second is an outage.
_REQUEST_BUCKETS = (0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
# Fan-out: the benchmark's last viewer of 1,000 sees a write in about 30 ms; a second is a stalled hub.
_FANOUT_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)

REQUESTS: Final = Counter(
    "careteam_http_requests",
    "HTTP requests answered, by method, route template and status.",
    ("method", "route", "status"),
)
REQUEST_SECONDS: Final = Histogram(
    "careteam_http_request_duration_seconds",
    "Time from a request's arrival to the end of its answer, by method and route template.",
    ("method", "route"),
    buckets=_REQUEST_BUCKETS,
)
SOCKETS: Final = Gauge(
    "careteam_websocket_connections",
    "Websockets open now (accepted and registered with the realtime hub).",
    multiprocess_mode="livesum",
)
SUBSCRIPTIONS: Final = Gauge(
    "careteam_websocket_subscriptions",
    "Live subscriptions now, by stream kind (plan, user, conversation, conference).",
    ("kind",),
    multiprocess_mode="livesum",
)
FANOUT_SECONDS: Final = Histogram(
    "careteam_fanout_latency_seconds",
    "From an event being recorded (its time in the log) to its frames written to every idle viewer's socket "
    "and queued for the busy ones; one observation per fan-out batch.",
    buckets=_FANOUT_BUCKETS,
)
CUTOFFS: Final = Counter(
    "careteam_websocket_cutoffs",
    "Websockets the server closed because the client could not keep up or broke a limit, by reason.",
    ("reason",),
)
RESYNCS: Final = Counter(
    "careteam_websocket_resyncs",
    "resync frames sent (the viewer reloads the stream), by reason.",
    ("reason",),
)
BROKER_RECONNECTS: Final = Counter(
    "careteam_broker_reconnects",
    "Times the broker link came back after being lost (each one catches every watched stream up).",
    ("backend",),
)
JOB_RUNS: Final = Counter(
    "careteam_job_runs",
    "Scheduled job runs committed, by job name and outcome (ok, failed).",
    ("job", "outcome"),
)

_METHODS: Final = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# Label values of a route that matched nothing (a 404 for an unknown path): never the path itself.
UNMATCHED: Final = "unmatched"

_fanout_observe = FANOUT_SECONDS.observe
_sockets_inc = SOCKETS.inc
_sockets_dec = SOCKETS.dec
# Each label combination's children, looked up once: ``labels()`` takes a lock and checks its arguments on
# every call (about 10 us per request for both). Bounded, as the labels are.
_request_children: dict[tuple[str, str, int], tuple[Callable[[], None], Callable[[float], None]]] = {}


def request_done(method: str, route: str, status: int, seconds: float) -> None:
    if method not in _METHODS:
        method = "other"  # a client chooses the method: any other would be a label of its own
    key = (method, route, status)
    children = _request_children.get(key)
    if children is None:
        children = _request_children[key] = (
            REQUESTS.labels(method, route, str(status)).inc,
            REQUEST_SECONDS.labels(method, route).observe,
        )
    inc, observe = children
    inc()
    observe(seconds)


def socket_opened() -> None:
    _sockets_inc()


def socket_closed() -> None:
    _sockets_dec()


def subscribed(kind: str) -> None:
    SUBSCRIPTIONS.labels(kind).inc()


def unsubscribed(kind: str) -> None:
    SUBSCRIPTIONS.labels(kind).dec()


def fanned_out(seconds: float) -> None:
    """One fan-out batch done, ``seconds`` after its newest event was recorded."""
    _fanout_observe(seconds)


def cut_off(reason: str) -> None:
    CUTOFFS.labels(reason).inc()


def resyncs(reason: str, count: int = 1) -> None:
    RESYNCS.labels(reason).inc(count)


def broker_reconnected(backend: str) -> None:
    BROKER_RECONNECTS.labels(backend).inc()


def job_ran(job: str, outcome: str) -> None:
    JOB_RUNS.labels(job, outcome).inc()


_LIVE_FILE = re.compile(r"^gauge_live\w*_(\d+)\.db$")


def forget_dead_workers(directory: str | os.PathLike[str]) -> list[int]:
    """Drop the live gauges of worker processes that are gone (a crashed worker uvicorn replaced); their pids.

    A dead worker's open sockets must not stay in ``careteam_websocket_connections``; its counters stay in
    the sums, as a counter of the whole service should.
    """
    dead: list[int] = []
    pids = {int(m.group(1)) for path in Path(directory).iterdir() if (m := _LIVE_FILE.match(path.name))}
    for pid in sorted(pids):
        if not _alive(pid):
            mark_process_dead(pid, str(directory))  # type: ignore[no-untyped-call]  # untyped upstream
            dead.append(pid)
    return dead


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return False  # another user's process: our worker (same user as this one) is gone, its pid reused
    return True
