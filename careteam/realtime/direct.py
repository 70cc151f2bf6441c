"""The hub's fast path to an idle socket: whole frames written to uvicorn's transport, no task, no await;
and its last resort for a socket that stopped reading: the close frame written past the full buffer.

It reads private attributes of uvicorn's sans-I/O websocket protocol (``transport``, ``writable``, ``conn``,
``close_sent``, ``disconnected``, ``loop``, ``close_timeout``, ``close_timer``) and of its websockets
``ServerProtocol`` (``extensions``, ``state``, ``send_close``, ``data_to_send``).
Whatever of that is missing (another server, an older or newer uvicorn, no uvicorn at all), the check
below says why, once, at INFO, and ``direct_writer`` returns None: every frame then goes through the ASGI
``send``, which the hub handles the same way, only with a writer task per socket. tests/realtime/
test_direct.py fails when these attributes change.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from starlette.types import Scope

if TYPE_CHECKING:
    from careteam.realtime.hub import DirectClose, DirectWrite

log = logging.getLogger(__name__)

# Scope key: the server's own ``send`` for a websocket, before any middleware wraps it. Kept by
# careteam.web.middleware.RequestContext; its ``__self__`` is the server's protocol object for the socket.
SERVER_SEND = "careteam.server_send"

try:
    from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
    from websockets.protocol import State
except ImportError as exc:  # uvicorn[standard] and websockets are dependencies: a broken install
    PROBLEM: str | None = f"uvicorn's sans-I/O websocket protocol cannot be imported ({exc})"
else:
    # ``writable`` is cleared while the kernel's buffer is full only where the protocol has flow control of
    # its own (uvicorn 0.52.1, which also added ``disconnected``); asyncio.Protocol's are no-ops.
    _own = vars(WebSocketsSansIOProtocol)
    if "pause_writing" not in _own or "resume_writing" not in _own:
        PROBLEM = "uvicorn's WebSocketsSansIOProtocol has no write flow control (uvicorn < 0.52.1)"
    elif not hasattr(State, "OPEN"):
        PROBLEM = "websockets.protocol.State has no OPEN"
    else:
        PROBLEM = None

_told: set[str] = set()


def contract_problem(proto: Any) -> str | None:
    """What the fast path reads that this protocol object lacks, or has in another shape; None: all there."""
    transport = getattr(proto, "transport", None)
    if not (callable(getattr(transport, "write", None)) and callable(getattr(transport, "is_closing", None))):
        return "the protocol's transport is missing or has no write/is_closing"
    if not isinstance(getattr(proto, "writable", None), asyncio.Event):
        return "the protocol's writable is not an asyncio.Event"
    for flag in ("close_sent", "disconnected"):
        if not isinstance(getattr(proto, flag, None), bool):
            return f"the protocol's {flag} is not a bool"
    if not callable(getattr(getattr(proto, "loop", None), "call_later", None)):
        return "the protocol's loop has no call_later"
    if not isinstance(getattr(proto, "close_timeout", None), int | float):
        return "the protocol's close_timeout is not a number"
    if not hasattr(proto, "close_timer"):
        return "the protocol has no close_timer"
    conn = getattr(proto, "conn", None)
    if not isinstance(getattr(conn, "extensions", None), list):
        return "the protocol's conn.extensions is not a list"
    if not isinstance(getattr(conn, "state", None), State):
        return "the protocol's conn.state is not a websockets State"
    if not (callable(getattr(conn, "send_close", None)) and callable(getattr(conn, "data_to_send", None))):
        return "the protocol's conn has no send_close/data_to_send"
    return None


def direct_writer(scope: Scope) -> DirectWrite | None:
    """A write that puts one whole frame on an idle socket at once; None where there is no such path.

    Available when the server's own ``send`` (kept under ``SERVER_SEND``) is a method of uvicorn's sans-I/O
    websocket protocol, the protocol passes :func:`contract_problem`, and no extension was negotiated;
    else None, and every frame goes through the ASGI ``send``. A server frame changes none of the
    protocol's state, so writing it past ``ServerProtocol.send_text`` is what that method would write.
    The write returns False (and writes nothing) when the socket is not idle: closing, closed, or the
    kernel's buffer full (uvicorn's ``writable``).
    """
    proto = _protocol(scope)
    if proto is None:
        return None
    transport, writable, ws = proto.transport, proto.writable, proto.conn

    def write(data: bytes) -> bool:
        if (
            proto.close_sent
            or proto.disconnected
            or not writable.is_set()
            or ws.state is not State.OPEN
            or transport.is_closing()
        ):
            return False
        transport.write(data)
        return True

    return write


def direct_closer(scope: Scope) -> DirectClose | None:
    """A close that does not wait for the client to read: for a socket the hub gives up on. None where
    there is no such path (as ``direct_writer``); the hub then leaves the socket to the server.

    The ASGI close waits, like every ASGI send, until the kernel takes bytes again, which for a client that
    stopped reading is never: the server would then drop the connection with no close frame. This writes
    the last frames and the close frame into the transport's buffer after what is there (the client gets
    them when it reads again) and does what uvicorn's own close does: marks the close sent and lets the
    transport go after ``close_timeout`` unless the client answers first. Returns False (nothing written)
    if the socket is already closing or closed.
    """
    proto = _protocol(scope)
    if proto is None:
        return None
    transport, ws = proto.transport, proto.conn

    def close(frames: bytes, code: int, reason: str) -> bool:
        if proto.close_sent or proto.disconnected or ws.state is not State.OPEN or transport.is_closing():
            return False
        ws.send_close(code, reason)
        transport.write(frames + b"".join(ws.data_to_send()))
        proto.close_sent = True
        proto.close_timer = proto.loop.call_later(proto.close_timeout, transport.close)
        return True

    return close


def _protocol(scope: Scope) -> Any:
    """uvicorn's sans-I/O protocol object of this socket if the fast paths may use it; else None (and why,
    once, at INFO)."""
    if PROBLEM is not None:
        _tell(PROBLEM)
        return None
    proto = getattr(scope.get(SERVER_SEND), "__self__", None)
    if not isinstance(proto, WebSocketsSansIOProtocol):
        _tell("the server is not uvicorn's websockets-sansio")
        return None
    problem = contract_problem(proto)
    if problem is not None:
        _tell(problem)
        return None
    if proto.conn.extensions:  # e.g. permessage-deflate: frames must go through the protocol's encoder
        return None
    return proto


def _tell(reason: str) -> None:
    if reason not in _told:
        _told.add(reason)
        log.info("websocket frames go through the ASGI send, not straight to the transport: %s", reason)
