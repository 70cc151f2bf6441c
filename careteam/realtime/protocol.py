"""The websocket protocol: client frames parsed strictly, server frames encoded once with orjson.

Every frame is a JSON object with a ``type`` (docs/realtime.md has one example of each).

Client -> server: ``subscribe {plan_id, after?}``, ``unsubscribe {plan_id}``, ``ping``.
Server -> client: ``snapshot``, ``subscribed``, ``event``, ``resync``, ``error``, ``pong``, ``heartbeat``.

This module does no I/O. A bad client frame becomes a :class:`ProtocolError` value, never an exception,
so no input can take the connection's reader down.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

import orjson
from websockets.frames import Frame, Opcode

from careteam.events.tables import PlanEvent

# Ids are 32-bit positive integers, as in the JSON API; seqs are 63-bit.
MAX_ID: Final = 2**31 - 1
MAX_SEQ: Final = 2**63 - 1

# Close codes (4xxx: application codes, the HTTP status they mirror).
CLOSE_UNAUTHENTICATED: Final = 4401  # session logged out, user deactivated, token gone
CLOSE_FORBIDDEN_ORIGIN: Final = 4403
CLOSE_TOO_SLOW: Final = 1013  # "try again later": the client fell behind; resync then reconnect


class ErrorCode:
    """The ``code`` of an ``error`` frame; stable, clients may switch on it."""

    bad_frame: Final = "bad_frame"  # not JSON, not an object, a missing or ill-typed field
    unknown_type: Final = "unknown_type"
    too_large: Final = "too_large"
    not_found: Final = "not_found"  # no such plan, or not one of yours: the same answer
    forbidden: Final = "forbidden"  # you were on the plan's team and no longer are
    too_many_subscriptions: Final = "too_many_subscriptions"
    unavailable: Final = "unavailable"  # the server could not read the log; try again


class ResyncReason:
    too_far_behind: Final = "too_far_behind"  # more than CARETEAM_REPLAY_WINDOW events behind
    log_pruned: Final = "log_pruned"  # the log no longer reaches back to after + 1
    ahead_of_log: Final = "ahead_of_log"  # after > the plan's last seq (another database, a reset)
    too_slow: Final = "too_slow"  # this socket's queue filled up; it is being closed


# --- Client frames --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Subscribe:
    plan_id: int
    after: int | None  # None: send a snapshot first


@dataclass(frozen=True, slots=True)
class Unsubscribe:
    plan_id: int


@dataclass(frozen=True, slots=True)
class Ping:
    pass


@dataclass(frozen=True, slots=True)
class ProtocolError:
    code: str
    detail: str
    plan_id: int | None = None


ClientFrame = Subscribe | Unsubscribe | Ping

_FIELDS: Final = {
    "subscribe": frozenset({"type", "plan_id", "after"}),
    "unsubscribe": frozenset({"type", "plan_id"}),
    "ping": frozenset({"type"}),
}


def parse_client_frame(raw: str | bytes | None, *, max_bytes: int) -> ClientFrame | ProtocolError:
    """One client frame, checked strictly: exact fields, integer ids in range, at most ``max_bytes``."""
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
    plan_id = body.get("plan_id")
    # type() rather than isinstance(): JSON true is not plan 1.
    if type(plan_id) is not int or not 1 <= plan_id <= MAX_ID:
        return ProtocolError(ErrorCode.bad_frame, f"plan_id must be an integer from 1 to {MAX_ID}.")
    if kind == "unsubscribe":
        return Unsubscribe(plan_id)
    after = body.get("after")
    if after is not None and (type(after) is not int or not 0 <= after <= MAX_SEQ):
        return ProtocolError(ErrorCode.bad_frame, "after must be null or an integer >= 0.", plan_id)
    return Subscribe(plan_id, after)


# --- Server frames --------------------------------------------------------------------------------


# The ASGI message that sends one text frame; built once per frame and shared by every socket.
Message = dict[str, Any]


def message(text: str) -> Message:
    return {"type": "websocket.send", "text": text}


@dataclass(frozen=True, slots=True)
class EventFrame:
    """One event, encoded once; the same object goes to every viewer: its ASGI message for a socket with a
    backlog, its wire bytes (the whole websocket frame) for an idle one."""

    plan_id: int
    seq: int
    message: Message
    wire: bytes

    @property
    def text(self) -> str:
        text: str = self.message["text"]
        return text


def encode(body: dict[str, Any]) -> str:
    return orjson.dumps(body).decode()


def wire(payload: bytes) -> bytes:
    """A whole server-to-client text frame: unmasked, unfragmented, uncompressed (RFC 6455 section 5.2).

    Built once per event and written as is to every idle socket; the server runs without compression
    (``cli.websocket_options``), and a socket that negotiated an extension is never written to this way.
    """
    return Frame(Opcode.TEXT, payload).serialize(mask=False)


def event_frame(event: PlanEvent) -> EventFrame:
    data = orjson.dumps(
        {
            "type": "event",
            "plan_id": event.plan_id,
            "seq": event.seq,
            "kind": event.kind,
            "data": event.data,
            "actor_id": event.actor_id,
            "at": event.at,
        }
    )
    return EventFrame(event.plan_id, event.seq, message(data.decode()), wire(data))


def snapshot(plan_id: int, last_seq: int, board: dict[str, Any]) -> str:
    return encode({"type": "snapshot", "plan_id": plan_id, "last_seq": last_seq, "board": board})


def subscribed(plan_id: int, last_seq: int) -> str:
    return encode({"type": "subscribed", "plan_id": plan_id, "last_seq": last_seq})


def resync(plan_id: int, reason: str) -> str:
    return encode({"type": "resync", "plan_id": plan_id, "reason": reason})


def error(code: str, detail: str, plan_id: int | None = None) -> str:
    body: dict[str, Any] = {"type": "error", "code": code, "detail": detail}
    if plan_id is not None:
        body["plan_id"] = plan_id
    return encode(body)


def protocol_error(err: ProtocolError) -> str:
    return error(err.code, err.detail, err.plan_id)


PONG: Final = encode({"type": "pong"})
HEARTBEAT: Final = encode({"type": "heartbeat"})


def transport_max_size(max_frame_bytes: int) -> int:
    """The limit to give the server's websocket protocol (uvicorn ``ws_max_size``).

    Twice the application limit: a frame between the two gets an ``error`` frame and the socket lives on;
    only a frame beyond it is cut by the protocol itself (close 1009) before it is buffered whole.
    """
    return 2 * max_frame_bytes
