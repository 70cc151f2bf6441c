"""The hub's fast path to an idle socket: whole frames written to uvicorn's transport, no task, no await;
and its last resort for a socket that stopped reading: the close frame written past the full buffer.

It reads private attributes of uvicorn's sans-I/O websocket protocol (``transport``, ``writable``, ``conn``,
``close_sent``, ``disconnected``, ``loop``, ``close_timeout``, ``close_timer``) and of its websockets
``ServerProtocol`` (``extensions``, ``state``, ``send_close``, ``data_to_send``). Once a socket is accepted,
:func:`forget_handshake` also drops the protocol's ``request`` and ``response`` and swaps its ``queue`` for
an :class:`Inbox` (after ``handshake_complete``; where any of that is missing it leaves them alone).
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


def forget_handshake(scope: Scope) -> None:
    """Once the socket is accepted (and while the handler is not waiting in ``receive``): drop what only
    the handshake needed, which would otherwise stay for the socket's whole life, and slim its inbox.

    The scope's headers (the endpoint has read them); under uvicorn's sans-I/O protocol its copies of the
    upgrade request and of our 101 response (``request``, ``response``: read only before
    ``handshake_complete``), and its receive queue, an ``asyncio.Queue`` (three deques and an Event with a
    fourth, about 3.5 KB) of which the protocol uses ``put_nowait``, ``get`` and ``empty`` with one
    reader: replaced by an :class:`Inbox` holding the same messages. Nothing else reads any of it after
    the handshake, here or in uvicorn."""
    scope["headers"] = []
    proto = _protocol(scope)
    if proto is None or proto.handshake_complete is not True:
        return
    for name in _HANDSHAKE:
        if hasattr(proto, name):
            setattr(proto, name, None)
    queue = getattr(proto, "queue", None)
    if type(queue) is asyncio.Queue and queue.maxsize <= 0:
        items = []
        while not queue.empty():
            items.append(queue.get_nowait())
        proto.queue = Inbox(items)


class Inbox:
    """What uvicorn's websocket protocol needs of its receive queue, for one reader: ``put_nowait``,
    ``get``, ``empty``. Unbounded, as uvicorn's is (uvicorn pauses reading from the socket while a message
    waits, so it holds one or two). An idle socket's inbox is this object and the future its reader
    awaits; a list exists only while messages wait."""

    __slots__ = ("_items", "_waiter")

    def __init__(self, items: list[Any] | None = None) -> None:
        self._items: list[Any] | None = items or None
        self._waiter: asyncio.Future[None] | None = None

    def put_nowait(self, item: Any) -> None:
        if self._items is None:
            self._items = [item]
        else:
            self._items.append(item)
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def get(self) -> Any:
        while not self._items:
            # One reader (the ASGI app's receive): a cancelled wait loses nothing, the message stays here.
            self._waiter = waiter = asyncio.get_running_loop().create_future()
            try:
                await waiter
            finally:
                self._waiter = None
        items = self._items
        item = items.pop(0)
        if not items:
            self._items = None
        return item

    def empty(self) -> bool:
        return not self._items

    def qsize(self) -> int:
        return len(self._items) if self._items else 0


# What uvicorn's sans-I/O protocol keeps of the handshake (handle_connect); unused once it is complete.
_HANDSHAKE = ("request", "response")


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
