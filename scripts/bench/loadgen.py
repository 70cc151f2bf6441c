"""The load generator: cheap websocket viewers and HTTP (or websocket) writers, in processes of their own.

Viewers are raw asyncio protocols, not a websocket library: the handshake is written by hand, server frames
are parsed in place (they are never masked), nothing is decoded as JSON on the hot path and there is no
task or await per frame. A frame that carries a write is recognised by the marker ``~w<id>~`` that the
writer puts in the task title; its receipt time is ``perf_counter_ns()`` taken once when the bytes arrive
(CLOCK_MONOTONIC: the same clock in every process of the machine, so writer and viewer times compare).

Writers keep one keep-alive connection per lane; a lane owns one task, so its If-Match version is always the
one it got back from its previous write. A write's start is taken just before its request is written.

Both run in worker processes driven over a multiprocessing pipe by the orchestrator (``ViewerPool``,
``WriterProc``), pinned to the load generator's CPU; the orchestrator reads their CPU from /proc.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import multiprocessing as mp
import os
import random
import socket
import threading
import time
import traceback
from array import array
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from common import pin, raise_fd_limit

MARK = b"~w"
perf_ns = time.perf_counter_ns


def title_for(write_id: int) -> str:
    return f"~w{write_id}~ bench"


def _client_frame(payload: bytes, opcode: int = 1) -> bytes:
    """A masked client frame (RFC 6455 section 5.3)."""
    n = len(payload)
    head = bytearray([0x80 | opcode])
    if n < 126:
        head.append(0x80 | n)
    elif n < 65536:
        head.append(0x80 | 126)
        head += n.to_bytes(2, "big")
    else:
        head.append(0x80 | 127)
        head += n.to_bytes(8, "big")
    mask = os.urandom(4)
    head += mask
    if n:
        m = (mask * (n // 4 + 1))[:n]
        payload = (int.from_bytes(payload, "big") ^ int.from_bytes(m, "big")).to_bytes(n, "big")
    return bytes(head) + payload


def _handshake(host: str, port: int, path: str, headers: list[tuple[str, str]]) -> bytes:
    key = base64.b64encode(os.urandom(16)).decode()
    lines = [
        f"GET {path} HTTP/1.1",
        f"Host: {host}:{port}",
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Key: {key}",
        "Sec-WebSocket-Version: 13",
        *(f"{k}: {v}" for k, v in headers),
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


# --- Viewers -----------------------------------------------------------------------------------------


class Recorder:
    """Every marked frame received in this process: (write id, receipt ns, viewer index), as flat arrays;
    ``replayed``: the positions of those that came as a replay after a reconnect (tracking viewers only)."""

    __slots__ = ("ids", "replayed", "times", "viewers")

    def __init__(self) -> None:
        self.ids = array("q")
        self.times = array("q")
        self.viewers = array("q")
        self.replayed = array("q")

    def clear(self) -> None:
        self.ids, self.times, self.viewers = array("q"), array("q"), array("q")
        self.replayed = array("q")


SEQ = b'"seq":'


def _seq_of(data: bytes, start: int, end: int) -> int | None:
    """The envelope's ``seq`` of an event frame (it comes before ``data``, so the first one is it)."""
    i = data.find(SEQ, start, end)
    if i < 0:
        return None
    i += len(SEQ)
    j = i
    while j < end and 48 <= data[j] <= 57:
        j += 1
    return int(data[i:j]) if j > i else None


class Viewer(asyncio.Protocol):
    """One subscribed socket. ``mode`` "json": careteam-style frames; "sio": Socket.IO over a websocket."""

    def __init__(self, idx: int, spec: dict[str, Any], rec: Recorder) -> None:
        self.idx = idx
        self.spec = spec
        self.mode: str = spec["mode"]
        self.rec = rec
        self.stall: bool = spec.get("stall", False)
        self.transport: Any = None
        self.buf = b""
        self.upgraded = False
        self.ready = asyncio.get_running_loop().create_future()
        self.closed_code: int | None = None
        self.lost = False
        self.resyncs = 0
        self.errors = 0
        self.first_error = ""
        # Tracking viewers (the clinic part) follow their stream's seq, to resume from it after a reconnect
        # as the browser does, and tell a replayed frame (seq <= the ``subscribed`` frame's last_seq) apart.
        self.track: bool = spec.get("track", False)
        self.last_seq: int = spec.get("after") or 0
        self.live_after = 1 << 62  # until ``subscribed`` arrives (no event comes before it)

    # asyncio.Protocol
    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        s = self.spec
        transport.write(_handshake(s["host"], s["port"], s["path"], s.get("headers", [])))

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        if not self.ready.done():
            self.ready.set_exception(ConnectionError(f"connection lost before subscribed: {exc}"))

    def send_text(self, text: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(_client_frame(text))

    def data_received(self, data: bytes) -> None:
        now = perf_ns()
        if self.buf:
            data = self.buf + data
            self.buf = b""
        pos = 0
        if not self.upgraded:
            end = data.find(b"\r\n\r\n")
            if end < 0:
                self.buf = data
                return
            status = data[:end].split(b"\r\n", 1)[0]
            if b" 101 " not in status + b" ":
                if not self.ready.done():
                    self.ready.set_exception(ConnectionError(status.decode(errors="replace")))
                assert self.transport is not None
                self.transport.close()
                return
            self.upgraded = True
            pos = end + 4
            self._on_open()
        n = len(data)
        rec = self.rec
        while n - pos >= 2:
            ln = data[pos + 1] & 127
            if ln < 126:
                hl = 2
            elif ln == 126:
                if n - pos < 4:
                    break
                ln = (data[pos + 2] << 8) | data[pos + 3]
                hl = 4
            else:
                if n - pos < 10:
                    break
                ln = int.from_bytes(data[pos + 2 : pos + 10], "big")
                hl = 10
            start = pos + hl
            end = start + ln
            if end > n:
                break
            op = data[pos] & 15
            if op <= 2:
                i = data.find(MARK, start, end)
                if i >= 0:
                    j = data.find(b"~", i + 2, end)
                    if self.track:
                        seq = _seq_of(data, start, end)
                        if seq is not None:
                            self.last_seq = seq
                            if seq <= self.live_after:
                                rec.replayed.append(len(rec.ids))
                    rec.ids.append(int(data[i + 2 : j]))
                    rec.times.append(now)
                    rec.viewers.append(self.idx)
                else:
                    self._control(data[start:end])
            elif op == 9:  # ping -> pong
                assert self.transport is not None
                self.transport.write(_client_frame(data[start:end], 10))
            elif op == 8:
                self.closed_code = int.from_bytes(data[start : start + 2], "big") if ln >= 2 else 1005
                if self.transport is not None:
                    self.transport.close()
            pos = end
        if pos < n:
            self.buf = data[pos:]

    # Protocol-specific frames (never on the hot path)
    def _on_open(self) -> None:
        if self.mode == "json":
            plan, after = self.spec["plan_id"], self.spec.get("after")
            after_s = "null" if after is None else str(after)
            self.send_text(f'{{"type":"subscribe","plan_id":{plan},"after":{after_s}}}'.encode())

    def _control(self, payload: bytes) -> None:
        if self.mode == "sio":
            if payload[:1] == b"0":  # Engine.IO open -> Socket.IO connect to the default namespace
                self.send_text(b"40")
            elif payload[:2] == b"40":
                self.send_text(b'42["subscribe",{"plan_id":%d}]' % self.spec["plan_id"])
            elif payload == b"2":  # Engine.IO ping
                self.send_text(b"3")
            elif payload.startswith(b'42["subscribed"') and not self.ready.done():
                self.ready.set_result(None)
            elif payload[:2] in (b"41", b"44"):
                self._error(payload)
            return
        if self.track and payload.startswith(b'{"type":"event"'):
            seq = _seq_of(payload, 0, len(payload))
            if seq is not None:
                self.last_seq = seq
            return
        if b'"subscribed"' in payload:
            if self.track:
                i = payload.find(b'"last_seq":')
                if i >= 0:
                    self.live_after = int(payload[i + 11 :].split(b",")[0].split(b"}")[0])
            if not self.ready.done():
                self.ready.set_result(None)
        elif b'"resync"' in payload:
            self.resyncs += 1
        elif b'"error"' in payload:
            self._error(payload)

    def close_politely(self) -> None:
        """What a browser's socket does on close(): a close frame (1000), then the connection closed."""
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(_client_frame((1000).to_bytes(2, "big"), 8))
            self.transport.close()

    def _error(self, payload: bytes) -> None:
        self.errors += 1
        if not self.first_error:
            self.first_error = payload[:200].decode(errors="replace")
        if not self.ready.done():
            self.ready.set_exception(ConnectionError(self.first_error))


async def _open_viewer(idx: int, spec: dict[str, Any], rec: Recorder, limit: float) -> Viewer:
    loop = asyncio.get_running_loop()
    viewer = Viewer(idx, spec, rec)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setblocking(False)
    if spec.get("rcvbuf"):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, int(spec["rcvbuf"]))
    try:
        async with asyncio.timeout(limit):
            await loop.sock_connect(sock, (spec["host"], spec["port"]))
            await loop.create_connection(lambda: viewer, sock=sock)
            await viewer.ready
    except BaseException:
        if viewer.transport is not None:
            viewer.transport.abort()
        else:
            sock.close()
        raise
    return viewer


def _commands(conn: Any) -> asyncio.Queue[Any]:
    """The orchestrator's commands, read by a thread: the pipe stays blocking (an event loop's add_reader
    would make it non-blocking, and a large reply would then fail half-written)."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[Any] = asyncio.Queue()

    def read() -> None:
        while True:
            try:
                msg = conn.recv()
            except (EOFError, OSError):
                msg = ("close",)
            loop.call_soon_threadsafe(queue.put_nowait, msg)
            if msg[0] == "close":
                return

    threading.Thread(target=read, daemon=True).start()
    return queue


class ViewerWorker:
    def __init__(self, conn: Any) -> None:
        self.conn = conn
        self.rec = Recorder()
        self.viewers: list[Viewer] = []
        self.churn: asyncio.Task[dict[str, Any]] | None = None

    async def serve(self) -> None:
        commands = _commands(self.conn)
        while True:
            cmd, *args = await commands.get()
            if cmd == "close":
                for v in self.viewers:
                    if v.transport is not None:
                        v.transport.abort()
                await asyncio.sleep(0.05)
                self.conn.send(("closed",))
                return
            try:
                result = getattr(self, f"do_{cmd}")(*args)
                if asyncio.iscoroutine(result):
                    result = await result
            except Exception:
                result = ("error", traceback.format_exc()[-3000:])
            self.conn.send(result)

    async def do_connect(self, groups: list[dict[str, Any]], concurrency: int, limit: float) -> Any:
        specs = [g for g in groups for _ in range(g["count"])]
        base = len(self.viewers)
        sem = asyncio.Semaphore(concurrency)
        failures: list[str] = []

        async def one(i: int, spec: dict[str, Any]) -> Viewer | None:
            async with sem:
                try:
                    return await _open_viewer(base + i, spec, self.rec, limit)
                except Exception as exc:  # counted and reported; the orchestrator fails the run
                    failures.append(f"{type(exc).__name__}: {exc}"[:200])
                    return None

        opened = await asyncio.gather(*(one(i, s) for i, s in enumerate(specs)))
        self.viewers.extend(v for v in opened if v is not None)
        return ("connected", sum(v is not None for v in opened), failures[:5], len(failures))

    def do_churn_start(self, per_second: float, seconds: float, gap: float, seed: int, limit: float) -> Any:
        """Start closing and reopening viewers in the background (``do_churn_wait`` collects it)."""
        self.churn = asyncio.create_task(self._churn(per_second, seconds, gap, seed, limit))
        return ("ok",)

    async def do_churn_wait(self) -> Any:
        assert self.churn is not None
        stats = await self.churn
        self.churn = None
        return ("churned", stats)

    async def _churn(self, per_second: float, seconds: float, gap: float, seed: int, limit: float) -> Any:
        """``per_second`` viewers a second, at random (seeded): each closes its socket as a browser does,
        waits the browser's first back-off (``gap``, jittered as live.js), reconnects from its last seq."""
        rng = random.Random(seed)
        loop = asyncio.get_running_loop()
        total = int(per_second * seconds) if self.viewers else 0
        busy: set[int] = set()
        tasks: list[asyncio.Task[tuple[int, bool, str]]] = []
        t0 = loop.time()
        for k in range(total):
            delay = t0 + k / per_second - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            free = [i for i in (rng.randrange(len(self.viewers)) for _ in range(8)) if i not in busy]
            if not free:
                continue
            busy.add(free[0])
            pause = gap * (0.75 + rng.random() * 0.5)
            tasks.append(asyncio.create_task(self._reconnect(free[0], pause, limit, busy)))
        results = await asyncio.gather(*tasks)
        times = sorted(r[0] for r in results if r[1])
        return {
            "reconnects": len(results),
            "failed": sum(not r[1] for r in results),
            "retried": sum(bool(r[1] and r[2]) for r in results),
            "failures": [r[2] for r in results if r[2] and not r[1]][:5],
            "times_ns": times,
        }

    async def _reconnect(self, i: int, pause: float, limit: float, busy: set[int]) -> tuple[int, bool, str]:
        """Close viewer ``i``, open it again from its last seq: (ns from reopening to subscribed, ok, why)."""
        old = self.viewers[i]
        old.close_politely()
        await asyncio.sleep(pause)
        spec = {**old.spec, "after": old.last_seq}
        why = ""
        try:
            for attempt in range(3):  # the browser's back-off, shortened
                t = perf_ns()
                try:
                    new = await _open_viewer(old.idx, spec, self.rec, limit)
                except Exception as exc:
                    why = f"{type(exc).__name__}: {exc or f'not subscribed within {limit:g} s'}"[:200]
                    await asyncio.sleep(0.5 * 2**attempt)
                    continue
                took = perf_ns() - t
                new.resyncs, new.errors = old.resyncs + new.resyncs, old.errors + new.errors
                new.first_error = old.first_error or new.first_error
                self.viewers[i] = new
                return took, True, f"retried after {why}" if attempt else ""
            return 0, False, why
        finally:
            busy.discard(i)

    def do_reset(self) -> Any:
        self.rec.clear()
        return ("ok",)

    def do_stall(self, on: bool) -> Any:
        n = 0
        for v in self.viewers:
            if v.stall and v.transport is not None and not v.transport.is_closing():
                (v.transport.pause_reading if on else v.transport.resume_reading)()
                n += 1
        return ("stalled", n)

    def do_count(self) -> Any:
        return ("count", len(self.rec.ids), sum(v.lost for v in self.viewers))

    def do_status(self) -> Any:
        open_ = sum(not v.lost for v in self.viewers)
        return (
            "status",
            {
                "viewers": len(self.viewers),
                "open": open_,
                "closed_by_server": sum(v.closed_code is not None for v in self.viewers),
                "close_codes": sorted({v.closed_code for v in self.viewers if v.closed_code is not None}),
                "resyncs": sum(v.resyncs for v in self.viewers),
                "errors": sum(v.errors for v in self.viewers),
                "first_error": next((v.first_error for v in self.viewers if v.first_error), ""),
            },
        )

    def do_report(self, starts: dict[int, int], skip_stalled: bool) -> Any:
        """Per write: first and last receipt and count; per delivery: latency. Stalled viewers apart."""
        first: dict[int, int] = {}
        last: dict[int, int] = {}
        count: dict[int, int] = {}
        lat = array("q")
        # Replayed deliveries (a reconnected viewer catching up): counted, but apart from the live ones.
        replay_lat = array("q")
        last_all: dict[int, int] = {}
        replayed = set(self.rec.replayed)
        seen: set[int] = set()
        dupes = stray = stalled_got = 0
        stalled = {v.idx for v in self.viewers if v.stall} if skip_stalled else set()
        ids, times, viewers = self.rec.ids, self.rec.times, self.rec.viewers
        for k in range(len(ids)):
            wid, t, vi = ids[k], times[k], viewers[k]
            start = starts.get(wid)
            if start is None:
                stray += 1
                continue
            if vi in stalled:
                stalled_got += 1
                continue
            key = (vi << 32) | wid
            if key in seen:
                dupes += 1
                continue
            seen.add(key)
            if replayed:
                if t > last_all.get(wid, 0):
                    last_all[wid] = t
                if k in replayed:
                    replay_lat.append(t - start)
                    count[wid] = count.get(wid, 0) + 1
                    continue
            lat.append(t - start)
            if wid in first:
                if t < first[wid]:
                    first[wid] = t
                if t > last[wid]:
                    last[wid] = t
                count[wid] += 1
            else:
                first[wid] = last[wid] = t
                count[wid] = count.get(wid, 0) + 1
        per_plan: dict[int, int] = {}
        for v in self.viewers:
            if v.idx in stalled:
                continue
            per_plan[v.spec["plan_id"]] = per_plan.get(v.spec["plan_id"], 0) + 1
        return (
            "report",
            {
                "first": first,
                "last": last,
                "count": count,
                "latencies": lat.tobytes(),
                "replay_latencies": replay_lat.tobytes(),
                "last_all": last_all,
                "duplicates": dupes,
                "stray": stray,
                "stalled_received": stalled_got,
                "viewers_per_plan": per_plan,
            },
        )


def viewer_main(conn: Any, cpus: list[int]) -> None:
    pin(cpus)
    raise_fd_limit()
    _run(ViewerWorker(conn).serve())


def _run(coro: Any) -> None:
    try:
        import uvloop
    except ImportError:
        asyncio.run(coro)
    else:
        uvloop.run(coro)


# --- Writers -----------------------------------------------------------------------------------------


@dataclass
class LaneSpec:
    kind: str  # "http": PATCH /api/v1/tasks/{id} with If-Match; "ws": a websocket write message (the floor)
    host: str
    port: int
    plan_id: int
    task_id: int
    version: int = 1
    headers: list[tuple[str, str]] = field(default_factory=list)


class HttpLane:
    """One keep-alive HTTP/1.1 connection that PATCHes one task, version after version."""

    def __init__(self, spec: LaneSpec) -> None:
        self.spec = spec
        self.version = spec.version
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        extra = "".join(f"{k}: {v}\r\n" for k, v in spec.headers)
        self.head = (
            f"PATCH /api/v1/tasks/{spec.task_id} HTTP/1.1\r\nHost: {spec.host}:{spec.port}\r\n{extra}"
            "Content-Type: application/json\r\n"
        ).encode()

    async def open(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(self.spec.host, self.spec.port)

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            with contextlib.suppress(Exception):
                await self.writer.wait_closed()

    async def write(self, write_id: int) -> tuple[int, int, int]:
        if self.writer is None or self.writer.is_closing():
            await self.open()
        assert self.reader is not None and self.writer is not None
        body = b'{"title":"%s"}' % title_for(write_id).encode()
        req = b'%sIf-Match: W/"%d"\r\nContent-Length: %d\r\n\r\n%s' % (
            self.head,
            self.version,
            len(body),
            body,
        )
        start = perf_ns()
        self.writer.write(req)
        status, headers, payload = await _read_response(self.reader)
        end = perf_ns()
        etag = headers.get(b"etag", b"")
        if status < 300 and etag:
            self.version = int(etag.strip(b'W/"'))
        elif status == 412:
            import json

            with contextlib.suppress(Exception):
                self.version = int(json.loads(payload)["current"]["version"])
        if headers.get(b"connection", b"").lower() == b"close":
            await self.close()
            self.writer = None
        return start, end, status


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, dict[bytes, bytes], bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    headers = {}
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        headers[name.strip().lower()] = value.strip()
    if b"content-length" in headers:
        payload = await reader.readexactly(int(headers[b"content-length"]))
    elif headers.get(b"transfer-encoding", b"").lower() == b"chunked":
        payload = await _read_chunked(reader)
    else:
        payload = await reader.read()
    return status, headers, payload


class GetConn:
    """One keep-alive HTTP/1.1 connection for GETs (board reads)."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            with contextlib.suppress(Exception):
                await self.writer.wait_closed()
        self.writer = None

    async def get(self, path: str, headers: list[tuple[str, str]]) -> tuple[int, int, int, int]:
        """(start ns, end ns, status, body bytes)."""
        if self.writer is None or self.writer.is_closing():
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None and self.writer is not None
        extra = "".join(f"{k}: {v}\r\n" for k, v in headers)
        req = f"GET {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n{extra}\r\n".encode()
        start = perf_ns()
        self.writer.write(req)
        status, head, payload = await _read_response(self.reader)
        end = perf_ns()
        if head.get(b"connection", b"").lower() == b"close":
            await self.close()
        return start, end, status, len(payload)


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    out = b""
    while True:
        size = int((await reader.readuntil(b"\r\n")).strip().split(b";")[0], 16)
        if size == 0:
            await reader.readuntil(b"\r\n")
            return out
        out += await reader.readexactly(size + 2)


class WsLane:
    """The floor's trigger: a websocket message ``write``, answered by ``ack`` (no HTTP, no database)."""

    def __init__(self, spec: LaneSpec) -> None:
        self.spec = spec
        self.version = spec.version
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def open(self) -> None:
        s = self.spec
        self.reader, self.writer = await asyncio.open_connection(s.host, s.port)
        self.writer.write(_handshake(s.host, s.port, "/", []))
        head = await self.reader.readuntil(b"\r\n\r\n")
        if b" 101 " not in head.split(b"\r\n", 1)[0] + b" ":
            raise ConnectionError(head[:100].decode(errors="replace"))

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            with contextlib.suppress(Exception):
                await self.writer.wait_closed()

    async def write(self, write_id: int) -> tuple[int, int, int]:
        if self.writer is None:
            await self.open()
        assert self.reader is not None and self.writer is not None
        s = self.spec
        msg = b'{"type":"write","plan_id":%d,"task_id":%d,"title":"%s"}' % (
            s.plan_id,
            s.task_id,
            title_for(write_id).encode(),
        )
        start = perf_ns()
        self.writer.write(_client_frame(msg))
        while True:
            b0, b1 = await self.reader.readexactly(2)
            ln = b1 & 127
            if ln == 126:
                ln = int.from_bytes(await self.reader.readexactly(2), "big")
            elif ln == 127:
                ln = int.from_bytes(await self.reader.readexactly(8), "big")
            payload = await self.reader.readexactly(ln)
            if b0 & 15 == 1 and b'"ack"' in payload:
                break
        end = perf_ns()
        self.version += 1
        return start, end, 200


def _lane(spec: LaneSpec) -> HttpLane | WsLane:
    return HttpLane(spec) if spec.kind == "http" else WsLane(spec)


class WriterWorker:
    def __init__(self, conn: Any) -> None:
        self.conn = conn

    async def serve(self) -> None:
        commands = _commands(self.conn)
        while True:
            cmd, *args = await commands.get()
            if cmd == "close":
                self.conn.send(("closed",))
                return
            try:
                if cmd == "open_loop":
                    result = await self.open_loop(*args)
                elif cmd == "get_loop":
                    result = await self.get_loop(*args)
                else:
                    result = await self.closed_loop(*args)
            except Exception:
                result = ("error", traceback.format_exc()[-3000:])
            self.conn.send(result)

    @staticmethod
    async def _lanes(specs: list[LaneSpec]) -> list[HttpLane | WsLane]:
        lanes = [_lane(s) for s in specs]
        await asyncio.gather(*(lane.open() for lane in lanes))
        return lanes

    async def open_loop(self, specs: list[LaneSpec], rate: float, duration: float, first_id: int) -> Any:
        """``rate`` writes per second on a fixed schedule; a write waits for a free lane if all are busy."""
        lanes = await self._lanes(specs)
        idle: asyncio.Queue[HttpLane | WsLane] = asyncio.Queue()
        for lane in lanes:
            idle.put_nowait(lane)
        results: list[tuple[int, int, int, int, int, int]] = []
        errors: list[str] = []
        total = max(1, int(rate * duration))
        t0 = perf_ns() + 20_000_000
        pending: set[asyncio.Task[None]] = set()

        async def run(lane: HttpLane | WsLane, wid: int, sched: int) -> None:
            try:
                start, end, status = await lane.write(wid)
            except Exception as exc:
                errors.append(f"{type(exc).__name__}: {exc}"[:200])
                start = end = perf_ns()
                status = 0
                await lane.close()
                lane.writer = None
            results.append((wid, lane.spec.plan_id, start, end, status, sched))
            idle.put_nowait(lane)

        for k in range(total):
            sched = t0 + int(k * 1e9 / rate)
            delay = (sched - perf_ns()) / 1e9
            if delay > 0:
                await asyncio.sleep(delay)
            lane = await idle.get()
            task = asyncio.create_task(run(lane, first_id + k, sched))
            pending.add(task)
            task.add_done_callback(pending.discard)
        if pending:
            await asyncio.wait(pending, timeout=60)
        versions = {lane.spec.task_id: lane.version for lane in lanes}
        await asyncio.gather(*(lane.close() for lane in lanes))
        return ("written", results, versions, errors[:5], len(errors))

    async def get_loop(
        self,
        host: str,
        port: int,
        requests: list[tuple[str, str, list[tuple[str, str]]]],
        rate: float,
        duration: float,
        connections: int,
    ) -> Any:
        """GET ``requests`` (kind, path, headers) in turn at ``rate`` a second on a fixed schedule, over
        ``connections`` keep-alive connections; (kind, start ns, end ns, status, bytes) per request."""
        idle: asyncio.Queue[GetConn] = asyncio.Queue()
        conns = [GetConn(host, port) for _ in range(connections)]
        for c in conns:
            idle.put_nowait(c)
        results: list[tuple[str, int, int, int, int]] = []
        errors: list[str] = []
        total = max(1, int(rate * duration))
        t0 = perf_ns() + 20_000_000
        pending: set[asyncio.Task[None]] = set()

        async def run(conn: GetConn, kind: str, path: str, headers: list[tuple[str, str]]) -> None:
            try:
                start, end, status, size = await conn.get(path, headers)
            except Exception as exc:
                errors.append(f"{type(exc).__name__}: {exc}"[:200])
                start = end = perf_ns()
                status, size = 0, 0
                await conn.close()
            results.append((kind, start, end, status, size))
            idle.put_nowait(conn)

        for k in range(total):
            delay = (t0 + int(k * 1e9 / rate) - perf_ns()) / 1e9
            if delay > 0:
                await asyncio.sleep(delay)
            conn = await idle.get()
            kind, path, headers = requests[k % len(requests)]
            task = asyncio.create_task(run(conn, kind, path, headers))
            pending.add(task)
            task.add_done_callback(pending.discard)
        if pending:
            await asyncio.wait(pending, timeout=60)
        await asyncio.gather(*(c.close() for c in conns))
        return ("got", results, errors[:5], len(errors))

    async def closed_loop(self, specs: list[LaneSpec], duration: float, first_id: int) -> Any:
        """Every lane writes as fast as its answers come back, for ``duration`` seconds."""
        lanes = await self._lanes(specs)
        ids = itertools.count(first_id)
        results: list[tuple[int, int, int, int, int, int]] = []
        errors: list[str] = []
        deadline = perf_ns() + int(duration * 1e9)

        async def lane_loop(lane: HttpLane | WsLane) -> None:
            while perf_ns() < deadline:
                wid = next(ids)
                try:
                    start, end, status = await lane.write(wid)
                except Exception as exc:
                    errors.append(f"{type(exc).__name__}: {exc}"[:200])
                    await lane.close()
                    lane.writer = None
                    await asyncio.sleep(0.01)
                    continue
                results.append((wid, lane.spec.plan_id, start, end, status, start))

        await asyncio.gather(*(lane_loop(lane) for lane in lanes))
        versions = {lane.spec.task_id: lane.version for lane in lanes}
        await asyncio.gather(*(lane.close() for lane in lanes))
        return ("written", results, versions, errors[:5], len(errors))


def writer_main(conn: Any, cpus: list[int]) -> None:
    pin(cpus)
    raise_fd_limit()
    _run(WriterWorker(conn).serve())


# --- The orchestrator's handles --------------------------------------------------------------------------


class _Worker:
    def __init__(self, target: Callable[..., None], cpus: list[int]) -> None:
        ctx = mp.get_context("spawn")
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=target, args=(child, cpus), daemon=True)
        self.proc.start()
        child.close()

    @property
    def pid(self) -> int:
        assert self.proc.pid is not None
        return self.proc.pid

    def send(self, *msg: Any) -> None:
        self.conn.send(msg)

    def recv(self, timeout: float) -> Any:
        deadline = time.monotonic() + timeout
        while not self.conn.poll(0.5):
            if not self.proc.is_alive():
                raise RuntimeError(f"load generator process {self.pid} died (exit {self.proc.exitcode})")
            if time.monotonic() > deadline:
                raise TimeoutError(f"load generator process {self.pid} did not answer in {timeout}s")
        reply = self.conn.recv()
        if reply[0] == "error":
            raise RuntimeError(f"load generator process {self.pid} failed:\n{reply[1]}")
        return reply

    def call(self, *msg: Any, timeout: float = 120.0) -> Any:
        self.send(*msg)
        return self.recv(timeout)

    def stop(self) -> None:
        if self.proc.is_alive():
            with contextlib.suppress(Exception):
                self.call("close", timeout=10)
            self.proc.join(5)
        if self.proc.is_alive():
            self.proc.kill()
            self.proc.join(5)


class ViewerPool:
    """Viewer processes; the viewers of a run are split evenly across them."""

    def __init__(self, processes: int, cpus: list[int]) -> None:
        self.workers = [_Worker(viewer_main, cpus) for _ in range(processes)]

    @property
    def pids(self) -> list[int]:
        return [w.pid for w in self.workers]

    def connect(self, groups: list[dict[str, Any]], *, concurrency: int = 64, timeout: float = 60.0) -> Any:
        """Open and subscribe every viewer of ``groups``; returns (opened, failures sample, failed)."""
        shares: list[list[dict[str, Any]]] = [[] for _ in self.workers]
        for g in groups:
            count = g["count"]
            for i, share in enumerate(shares):
                part = count // len(shares) + (1 if i < count % len(shares) else 0)
                if part:
                    share.append({**g, "count": part})
        for w, share in zip(self.workers, shares, strict=True):
            w.send("connect", share, max(1, concurrency // len(self.workers)), timeout)
        opened, failures, failed = 0, [], 0
        for w in self.workers:
            _, ok, sample, bad = w.recv(timeout * 4 + 600)
            opened += ok
            failures += sample
            failed += bad
        return opened, failures, failed

    def broadcast(self, *msg: Any, timeout: float = 120.0) -> list[Any]:
        for w in self.workers:
            w.send(*msg)
        return [w.recv(timeout) for w in self.workers]

    def received(self) -> int:
        return sum(r[1] for r in self.broadcast("count"))

    def status(self) -> dict[str, Any]:
        out: dict[str, Any] = {"viewers": 0, "open": 0, "closed_by_server": 0, "resyncs": 0, "errors": 0}
        codes: set[int] = set()
        first = ""
        for _, s in self.broadcast("status"):
            for k in out:
                out[k] += s[k]
            codes.update(s["close_codes"])
            first = first or s["first_error"]
        out["close_codes"] = sorted(codes)
        out["first_error"] = first
        return out

    def stop(self) -> None:
        for w in self.workers:
            w.stop()


class WriterProc(_Worker):
    def __init__(self, cpus: list[int]) -> None:
        super().__init__(writer_main, cpus)
