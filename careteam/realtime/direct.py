"""The hub's fast path to an idle socket: whole frames written to uvicorn's transport, no task, no await.

It reads private attributes of uvicorn's sans-I/O websocket protocol (``transport``, ``writable``, ``conn``,
``close_sent``, ``disconnected``) and of its websockets ``ServerProtocol`` (``extensions``, ``state``).
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
    from careteam.realtime.hub import DirectWrite

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
    conn = getattr(proto, "conn", None)
    if not isinstance(getattr(conn, "extensions", None), list):
        return "the protocol's conn.extensions is not a list"
    if not isinstance(getattr(conn, "state", None), State):
        return "the protocol's conn.state is not a websockets State"
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


def _tell(reason: str) -> None:
    if reason not in _told:
        _told.add(reason)
        log.info("websocket frames go through the ASGI send, not straight to the transport: %s", reason)
