"""The websocket edge, ``/ws``: Origin and credentials are checked before accepting; then this handler reads
the client's frames, and the hub writes to the socket (straight to the transport when it is idle,
:mod:`careteam.realtime.direct`; through a writer task while it has a backlog).

Browsers authenticate with the session cookie, which they attach whatever page opens the socket: a
cookie-authenticated socket must therefore come from our own origin (the page's host, or one listed in
``CARETEAM_ALLOWED_ORIGINS``), or any site a clinician visits could read her boards (cross-site websocket
hijacking). API clients send
``Authorization: Bearer <token>`` on the upgrade request; an Origin, if they send one, is checked too.

A bare ASGI app, not a FastAPI route: the app hands it ``/ws`` ahead of its middleware (``careteam.app``).
A socket lives for hours and every coroutine between the server and the read it waits in stays alive as
long: through the middleware stack and FastAPI's routing that was about 20 frames, a Starlette ``WebSocket``
and FastAPI's dependency state per idle socket. Here an idle socket is the server's task awaiting this
one coroutine, which awaits the server's ``receive``. What the HTTP middleware gave a socket is done here:
the request id (``careteam.web.middleware.request_id``) and, behind trusted proxies, the client's address.
The handshake (its headers, the credentials) is read in :func:`_admit`, whose frame is gone before the first
frame is read, and the headers are dropped once the socket is accepted (:func:`direct.forget_handshake`).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, Final

import orjson
from starlette.requests import cookie_parser
from starlette.types import Receive, Scope, Send

from careteam.accounts.sessions import resolve
from careteam.core.actor import Actor
from careteam.db import outage
from careteam.db.engine import unit_of_work
from careteam.realtime import protocol
from careteam.realtime.direct import SERVER_SEND, direct_closer, direct_writer, forget_handshake
from careteam.realtime.hub import Hub
from careteam.realtime.protocol import Ping, ProtocolError, Subscribe, Unsubscribe, parse_client_frame
from careteam.settings import Settings
from careteam.web.middleware import request_id

PATH: Final = "/ws"


def is_live_socket(scope: Scope) -> bool:
    """Whether this scope is the ``/ws`` websocket (under the app's ``root_path`` if it has one)."""
    if scope["type"] != "websocket":
        return False
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    if root and path.startswith(root):
        path = path[len(root) :]
    return path == PATH


async def live_updates(scope: Scope, receive: Receive, send: Send) -> None:
    """Live updates: subscribe to streams (a plan's board, your inbox), get their events in seq order
    (docs/realtime.md). ``scope["app"]`` is the app (its settings and hub)."""
    state = scope["app"].state
    hub: Hub = state.hub
    settings: Settings = state.settings
    request_id(scope)
    scope[SERVER_SEND] = send  # the server's own send: the realtime fast path (realtime/direct.py)
    if (await receive())["type"] != "websocket.connect":
        return
    actor = await _admit(scope, send, state.sessions, settings)
    if actor is None:
        return
    await send({"type": "websocket.accept"})
    forget_handshake(scope)
    socket = Socket(send, settings)
    conn = hub.connect(
        actor,
        send=send,
        close=socket.close,
        direct=direct_writer(scope),
        close_now=direct_closer(scope),
        stop=socket.stop,
    )
    del actor, state
    # The read loop, in this coroutine rather than one it awaits: one frame less per idle socket.
    # One client frame at a time; a bad frame is answered, never raised. A flood is answered with an error and
    # a close (the hub's writer sends them); what the client sends meanwhile is read and dropped until the
    # close is through, so the flood costs this socket nothing more and the others nothing.
    max_bytes = settings.ws_max_frame_bytes
    try:
        while not socket.stopped:
            socket.reading = True
            try:
                message = await receive()
            except asyncio.CancelledError:
                task = socket.task
                if not socket.stopped or task is None:
                    raise
                task.uncancel()  # our own stop(): not a cancellation of the handler
                return
            finally:
                socket.reading = False
            if message["type"] == "websocket.disconnect":
                return
            if conn.ending:
                continue  # being closed (a flood, a slow consumer, a logout): nothing more is answered
            if socket.flooded():
                hub.too_many_frames(conn)
                continue
            frame = parse_client_frame(message.get("text"), max_bytes=max_bytes)
            del message
            match frame:
                case Subscribe(stream=stream, after=after):
                    await hub.subscribe(conn, stream, after)
                case Unsubscribe(stream=stream):
                    await hub.unsubscribe(conn, stream)
                case Ping():
                    hub.reply(conn, protocol.PONG)
                case ProtocolError():
                    hub.reply(conn, protocol.protocol_error(frame))
            del frame
    finally:
        await hub.disconnect(conn)


class Socket:
    """What the handler keeps per socket besides the hub's ``Connection``: its ASGI close, whether it reads,
    and when its last client frames came (the flood limit). The hub stops it with :meth:`stop`."""

    __slots__ = ("arrivals", "limit", "reading", "send", "stopped", "task", "window")

    def __init__(self, send: Send, settings: Settings) -> None:
        self.send = send
        self.task = asyncio.current_task()
        self.reading = False
        self.stopped = False
        # When the last CARETEAM_WS_MAX_CLIENT_FRAMES frames were read, oldest first: one more within the
        # window is a flood. A list, not a deque: an idle socket has sent a frame or two, and an empty deque
        # is a 64-slot block (about 600 bytes) however little it holds.
        self.arrivals: list[float] = []
        self.limit = settings.ws_max_client_frames
        self.window = settings.ws_client_frames_seconds

    async def close(self, code: int, reason: str) -> None:
        await self.send({"type": "websocket.close", "code": code, "reason": reason})

    def stop(self) -> None:
        """Called by the hub once the socket is closed or given up on: end the read loop.

        Only a read in progress is cancelled, so the cancellation lands on that await and nowhere else.
        Under uvicorn a closed socket's read returns ``websocket.disconnect`` anyway; this is for a client
        that neither reads nor answers the close.
        """
        if self.stopped:
            return
        self.stopped = True
        if self.reading and self.task is not None:
            self.task.cancel()

    def flooded(self) -> bool:
        """Count a frame; True if it is one too many for the window (per socket, whatever the frame)."""
        now, arrivals = time.monotonic(), self.arrivals
        over = len(arrivals) >= self.limit and now - arrivals[0] < self.window
        arrivals.append(now)
        if len(arrivals) > self.limit:
            del arrivals[0]
        return over


async def _admit(scope: Scope, send: Send, sessions: Any, settings: Settings) -> Actor | None:
    """The socket's actor if the upgrade may be accepted; else None, the refusal sent. Everything read from
    the handshake stays in this frame, which is gone once the socket is accepted."""
    origin = authorization = host = None
    cookies: list[str] = []
    for name, value in scope["headers"]:
        if name == b"origin" and origin is None:
            origin = value.decode("latin-1")
        elif name == b"authorization" and authorization is None:
            authorization = value.decode("latin-1")
        elif name == b"host" and host is None:
            host = value.decode("latin-1")
        elif name == b"cookie":
            cookies.append(value.decode("latin-1"))
    if origin is not None and not _origin_allowed(scope, origin.rstrip("/"), host, settings):
        await _refuse(scope, send, 403, protocol.CLOSE_FORBIDDEN_ORIGIN, "Origin not allowed.")
        return None
    cookie = None
    for header in cookies:
        cookie = cookie_parser(header).get(settings.session_cookie_name, cookie)
    if authorization is None and cookie and origin is None:
        # A browser always sends its Origin; a cookie without one is replayed by something else.
        await _refuse(scope, send, 403, protocol.CLOSE_FORBIDDEN_ORIGIN, "A browser socket needs an Origin.")
        return None
    try:
        actor = await _authenticate(scope, sessions, settings, authorization, cookie)
    except Exception as exc:
        if not outage.is_unavailable(exc):
            raise
        # The database is away: refused with a code the client retries on (live.js backs off and reconnects).
        outage.note_down(exc)
        await _refuse(scope, send, 503, protocol.CLOSE_UNAVAILABLE, "The database cannot be reached.")
        return None
    if actor is None:
        await _refuse(scope, send, 401, protocol.CLOSE_UNAUTHENTICATED, "Sign in, or send a bearer token.")
        return None
    if actor.must_change_password:
        # An administrator reset her password: nothing streams until she chooses her own (as web.deps).
        await _refuse(scope, send, 403, protocol.CLOSE_FORBIDDEN_ORIGIN, "Password change required.")  # 4403
        return None
    return actor


def _origin_allowed(scope: Scope, origin: str, host: str | None, settings: Settings) -> bool:
    """The page's own origin (the Host it asked for), or one listed in CARETEAM_ALLOWED_ORIGINS."""
    if origin in settings.origins:
        return True
    scheme = "https" if scope.get("scheme") == "wss" else "http"
    return host is not None and origin == f"{scheme}://{host}"


async def _authenticate(
    scope: Scope, sessions: Any, settings: Settings, authorization: str | None, cookie: str | None
) -> Actor | None:
    """The actor behind the bearer token, or else the session cookie; None if neither is valid."""
    if authorization is not None:
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer":
            return None
        secret, kind = token.strip(), "bearer"
    else:
        secret, kind = cookie or "", "cookie"
    if not secret:
        return None
    client = scope.get("client")
    async with unit_of_work(sessions) as session:
        return await resolve(
            session,
            secret,
            kind=kind,
            settings=settings,
            request_id=scope["state"].get("request_id"),
            client_ip=client[0] if client else None,
        )


async def _refuse(scope: Scope, send: Send, status: int, close_code: int, detail: str) -> None:
    """Refuse the upgrade with an HTTP answer (problem+json) if the server can; else close unaccepted."""
    if "websocket.http.response" not in (scope.get("extensions") or {}):
        await send({"type": "websocket.close", "code": close_code, "reason": detail})
        return
    slug, title = _REFUSALS[status]
    body = orjson.dumps({"type": f"/problems/{slug}", "title": title, "status": status, "detail": detail})
    headers = [
        (b"content-length", str(len(body)).encode("latin-1")),
        (b"content-type", b"application/problem+json"),
    ]
    if status == 401:
        headers.append((b"www-authenticate", b"Bearer"))
    elif status == 503:
        headers.append((b"retry-after", str(outage.RETRY_AFTER_SECONDS).encode("latin-1")))
    await send({"type": "websocket.http.response.start", "status": status, "headers": headers})
    await send({"type": "websocket.http.response.body", "body": body})


_REFUSALS = {
    401: ("unauthenticated", "Sign-in required"),
    403: ("forbidden", "Forbidden"),
    503: ("unavailable", "Database unavailable"),
}
