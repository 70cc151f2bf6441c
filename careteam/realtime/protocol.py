"""The websocket protocol: client frames parsed strictly, server frames encoded once with orjson.

Every frame is a JSON object with a ``type`` (docs/realtime.md has one example of each).

Client -> server: ``subscribe {stream, after?}``, ``unsubscribe {stream}``, ``ping``; a stream is
``plan:42``, ``user:12`` or ``conference:7``, and ``{plan_id: 42}`` stays valid for ``{stream: "plan:42"}``.
Server -> client: ``snapshot``, ``subscribed``, ``event``, ``resync``, ``error``, ``pong``, ``heartbeat``;
every frame about a stream carries ``stream``, and a plan stream's also ``plan_id`` (integrators and the
benchmarks read it). The bytes of a stream's event are the same for every viewer.

This module does no I/O. A bad client frame becomes a :class:`ProtocolError` value, never an exception,
so no input can take the connection's reader down.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

import orjson
from websockets.frames import Frame, Opcode

from careteam.events.streams import MAX_ID, PLAN, Stream
from careteam.events.tables import StreamEvent

# Seqs are 63-bit.
MAX_SEQ: Final = 2**63 - 1

# Close codes (4xxx: application codes, the HTTP status they mirror).
CLOSE_UNAUTHENTICATED: Final = 4401  # session logged out, user deactivated, token gone
CLOSE_FORBIDDEN_ORIGIN: Final = 4403
CLOSE_TOO_SLOW: Final = 1013  # "try again later": the client fell behind; resync then reconnect
CLOSE_UNAVAILABLE: Final = 1013  # "try again later": the database cannot be reached; the client reconnects
CLOSE_TOO_MANY_FRAMES: Final = 1008  # "policy violation": over CARETEAM_WS_MAX_CLIENT_FRAMES in the window


class ErrorCode:
    """The ``code`` of an ``error`` frame; stable, clients may switch on it."""

    bad_frame: Final = "bad_frame"  # not JSON, not an object, a missing or ill-typed field
    unknown_type: Final = "unknown_type"
    too_large: Final = "too_large"
    not_found: Final = "not_found"  # no such stream, or not one you may read: the same answer
    forbidden: Final = "forbidden"  # you could read this stream and no longer can
    too_many_subscriptions: Final = "too_many_subscriptions"
    unavailable: Final = "unavailable"  # the server could not read the log; try again
    rate_limited: Final = "rate_limited"  # too many frames: the socket is closed (1008) after this one


class ResyncReason:
    too_far_behind: Final = "too_far_behind"  # more than CARETEAM_REPLAY_WINDOW events behind
    log_pruned: Final = "log_pruned"  # the log no longer reaches back to after + 1
    ahead_of_log: Final = "ahead_of_log"  # after > the stream's last seq (another database, a reset)
    too_slow: Final = "too_slow"  # this socket's queue filled up; it is being closed


# --- Client frames --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Subscribe:
    stream: Stream
    after: int | None  # None: send a snapshot first (or, for a stream without snapshots, its last seq)


@dataclass(frozen=True, slots=True)
class Unsubscribe:
    stream: Stream


@dataclass(frozen=True, slots=True)
class Ping:
    pass


@dataclass(frozen=True, slots=True)
class ProtocolError:
    code: str
    detail: str
    stream: Stream | None = None


ClientFrame = Subscribe | Unsubscribe | Ping

_FIELDS: Final = {
    "subscribe": frozenset({"type", "stream", "plan_id", "after"}),
    "unsubscribe": frozenset({"type", "stream", "plan_id"}),
    "ping": frozenset({"type"}),
}


def parse_client_frame(raw: str | bytes | None, *, max_bytes: int) -> ClientFrame | ProtocolError:
    """One client frame, checked strictly: exact fields, a known stream, integers in range, at most
    ``max_bytes``."""
    if not isinstance(raw, str):
        return ProtocolError(ErrorCode.bad_frame, "Send JSON objects as text frames.")
    # A str of n characters is 1..4n bytes of UTF-8: only encode when the bound is unclear.
    if len(raw) > max_bytes or (len(raw) * 4 > max_bytes and len(raw.encode()) > max_bytes):
        return ProtocolError(ErrorCode.too_large, f"Frames are limited to {max_bytes} bytes.")
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return ProtocolError(ErrorCode.bad_frame, "The frame is not valid JSON.")
    if not isinstance(body, dict):
        return ProtocolError(ErrorCode.bad_frame, "A frame is a JSON object with a type.")
    kind = body.get("type")
    if not isinstance(kind, str):
        return ProtocolError(ErrorCode.bad_frame, 'A frame needs a string "type".')
    allowed = _FIELDS.get(kind)
    if allowed is None:
        return ProtocolError(ErrorCode.unknown_type, "type must be one of subscribe, unsubscribe, ping.")
    extra = body.keys() - allowed
    if extra:
        return ProtocolError(ErrorCode.bad_frame, f"Unknown field(s) for {kind}: {', '.join(sorted(extra))}.")
    if kind == "ping":
        return Ping()
    stream = _stream_of(body)
    if isinstance(stream, ProtocolError):
        return stream
    if kind == "unsubscribe":
        return Unsubscribe(stream)
    after = body.get("after")
    if after is not None and (type(after) is not int or not 0 <= after <= MAX_SEQ):
        return ProtocolError(ErrorCode.bad_frame, "after must be null or an integer >= 0.", stream)
    return Subscribe(stream, after)


def _stream_of(body: dict[str, Any]) -> Stream | ProtocolError:
    """``stream: "plan:42"``, or the older ``plan_id: 42`` for the same: exactly one of the two."""
    if ("stream" in body) == ("plan_id" in body):
        return ProtocolError(ErrorCode.bad_frame, 'Give a "stream" (e.g. "plan:42"), or a "plan_id".')
    if "plan_id" in body:
        plan_id = body["plan_id"]
        # type() rather than isinstance(): JSON true is not plan 1.
        if type(plan_id) is not int or not 1 <= plan_id <= MAX_ID:
            return ProtocolError(ErrorCode.bad_frame, f"plan_id must be an integer from 1 to {MAX_ID}.")
        return Stream(PLAN, plan_id)
    try:
        return Stream.parse(body["stream"])
    except ValueError as exc:
        return ProtocolError(ErrorCode.bad_frame, str(exc))


# --- Server frames --------------------------------------------------------------------------------


# The ASGI message that sends one text frame; built once per frame and shared by every socket.
Message = dict[str, Any]


def message(text: str) -> Message:
    return {"type": "websocket.send", "text": text}


@dataclass(frozen=True, slots=True)
class EventFrame:
    """One event, encoded once; the same object goes to every viewer: its ASGI message for a socket with a
    backlog, its wire bytes (the whole websocket frame) for an idle one."""

    stream: Stream
    seq: int
    message: Message
    wire: bytes
    # When the event was recorded (its ``at``, seconds since the epoch): the fan-out latency metric's start.
    at: float

    @property
    def text(self) -> str:
        text: str = self.message["text"]
        return text


def encode(body: dict[str, Any]) -> str:
    return orjson.dumps(body).decode()


def wire(payload: bytes) -> bytes:
    """A whole server-to-client text frame: unmasked, unfragmented, uncompressed (RFC 6455 section 5.2).

    Built once per event and written as is to every idle socket; the server runs without compression
    (``cli.server_options``), and a socket that negotiated an extension is never written to this way.
    """
    return Frame(Opcode.TEXT, payload).serialize(mask=False)


def _about(stream: Stream) -> dict[str, Any]:
    """The fields naming a frame's stream: ``stream``, and a plan's ``plan_id`` too."""
    if stream.kind == PLAN:
        return {"stream": str(stream), "plan_id": stream.id}
    return {"stream": str(stream)}


def event_frame(event: StreamEvent) -> EventFrame:
    stream = event.stream
    data = orjson.dumps(
        {
            "type": "event",
            **_about(stream),
            "seq": event.seq,
            "kind": event.kind,
            "data": event.data,
            "actor_id": event.actor_id,
            "at": event.at,
        }
    )
    return EventFrame(stream, event.seq, message(data.decode()), wire(data), event.at.timestamp())


def snapshot(stream: Stream, last_seq: int, body: dict[str, Any]) -> str:
    """A stream's state as of ``last_seq`` (a plan's: ``board``), then its events after that."""
    name = "board" if stream.kind == PLAN else "snapshot"
    return encode({"type": "snapshot", **_about(stream), "last_seq": last_seq, name: body})


def subscribed(stream: Stream, last_seq: int) -> str:
    return encode({"type": "subscribed", **_about(stream), "last_seq": last_seq})


def resync(stream: Stream, reason: str) -> str:
    return encode({"type": "resync", **_about(stream), "reason": reason})


def error(code: str, detail: str, stream: Stream | None = None) -> str:
    body: dict[str, Any] = {"type": "error", "code": code, "detail": detail}
    if stream is not None:
        body.update(_about(stream))
    return encode(body)


def protocol_error(err: ProtocolError) -> str:
    return error(err.code, err.detail, err.stream)


PONG: Final = encode({"type": "pong"})
HEARTBEAT: Final = encode({"type": "heartbeat"})


def transport_max_size(max_frame_bytes: int) -> int:
    """The limit to give the server's websocket protocol (uvicorn ``ws_max_size``).

    Twice the application limit: a frame between the two gets an ``error`` frame and the socket lives on;
    only a frame beyond it is cut by the protocol itself (close 1009) before it is buffered whole.
    """
    return 2 * max_frame_bytes
