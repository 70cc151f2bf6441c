"""The websocket edge, ``/ws``: Origin and credentials are checked before accepting; then this handler reads
the client's frames, and the hub writes to the socket (straight to the transport when it is idle,
:mod:`careteam.realtime.direct`; through a writer task while it has a backlog).

Browsers authenticate with the session cookie, which they attach whatever page opens the socket: a
cookie-authenticated socket must therefore come from our own origin (the page's host, or one listed in
``CARETEAM_ALLOWED_ORIGINS``), or any site a clinician visits could read her boards (cross-site websocket
hijacking). API clients send
``Authorization: Bearer <token>`` on the upgrade request; an Origin, if they send one, is checked too.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque

import orjson
from fastapi import APIRouter, WebSocket
from starlette.responses import Response

from careteam.accounts.sessions import resolve
from careteam.core.actor import Actor
from careteam.db import outage
from careteam.db.engine import unit_of_work
from careteam.realtime import protocol
from careteam.realtime.direct import direct_closer, direct_writer
from careteam.realtime.hub import Connection, Hub
from careteam.realtime.protocol import Ping, ProtocolError, Subscribe, Unsubscribe, parse_client_frame
from careteam.settings import Settings

router = APIRouter()


@router.websocket("/ws")
async def live_updates(websocket: WebSocket) -> None:
    """Live updates: subscribe to streams (a plan's board, your inbox), get their events in seq order
    (docs/realtime.md)."""
    state = websocket.app.state
    settings: Settings = state.settings
    hub: Hub = state.hub

    origin = websocket.headers.get("origin")
    if origin is not None and not _origin_allowed(websocket, origin.rstrip("/"), settings):
        await _refuse(websocket, 403, protocol.CLOSE_FORBIDDEN_ORIGIN, "Origin not allowed.")
        return
    authorization = websocket.headers.get("authorization")
    cookie = websocket.cookies.get(settings.session_cookie_name)
    if authorization is None and cookie and origin is None:
        # A browser always sends its Origin; a cookie without one is replayed by something else.
        await _refuse(websocket, 403, protocol.CLOSE_FORBIDDEN_ORIGIN, "A browser socket needs an Origin.")
        return
    try:
        actor = await _authenticate(websocket, settings, authorization, cookie)
    except Exception as exc:
        if not outage.is_unavailable(exc):
            raise
        # The database is away: refused with a code the client retries on (live.js backs off and reconnects).
        outage.note_down(exc)
        await _refuse(websocket, 503, protocol.CLOSE_UNAVAILABLE, "The database cannot be reached.")
        return
    if actor is None:
        await _refuse(websocket, 401, protocol.CLOSE_UNAUTHENTICATED, "Sign in, or send a bearer token.")
        return
    if actor.must_change_password:
        # An administrator reset her password: nothing streams until she chooses her own (as web.deps).
        await _refuse(websocket, 403, protocol.CLOSE_FORBIDDEN_ORIGIN, "Password change required.")  # 4403
        return

    await websocket.accept()
    reader = _Reader(websocket, settings)
    conn = hub.connect(
        actor,
        send=websocket.send,
        close=websocket.close,
        direct=direct_writer(websocket.scope),
        close_now=direct_closer(websocket.scope),
        stop=reader.stop,
    )
    try:
        # Until the client leaves, or the hub has closed the socket (or given up on it) and stops us.
        await reader.run(hub, conn)
    finally:
        await hub.disconnect(conn)


class _Reader:
    """The handler's read loop, which the hub can stop while it waits for a frame."""

    __slots__ = ("arrivals", "max_bytes", "reading", "stopped", "task", "websocket", "window")

    def __init__(self, websocket: WebSocket, settings: Settings) -> None:
        self.websocket = websocket
        self.task = asyncio.current_task()
        self.reading = False
        self.stopped = False
        self.max_bytes = settings.ws_max_frame_bytes
        # When the last CARETEAM_WS_MAX_CLIENT_FRAMES frames were read: one more within the window is a flood.
        self.arrivals: deque[float] = deque(maxlen=settings.ws_max_client_frames)
        self.window = settings.ws_client_frames_seconds

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
        over = len(arrivals) == arrivals.maxlen and now - arrivals[0] < self.window
        arrivals.append(now)
        return over

    async def run(self, hub: Hub, conn: Connection) -> None:
        """One client frame at a time; a bad frame is answered, never raised. A flood is answered with an
        error and a close (the hub's writer sends them); what the client sends meanwhile is read and dropped
        until the close is through, so the flood costs this socket nothing more and the others nothing."""
        websocket = self.websocket
        while not self.stopped:
            self.reading = True
            try:
                message = await websocket.receive()
            except asyncio.CancelledError:
                if not self.stopped or self.task is None:
                    raise
                self.task.uncancel()  # our own stop(): not a cancellation of the handler
                return
            finally:
                self.reading = False
            if message["type"] == "websocket.disconnect":
                return
            if conn.ending:
                continue  # being closed (a flood, a slow consumer, a logout): nothing more is answered
            if self.flooded():
                hub.too_many_frames(conn)
                continue
            frame = parse_client_frame(message.get("text"), max_bytes=self.max_bytes)
            match frame:
                case Subscribe(stream=stream, after=after):
                    await hub.subscribe(conn, stream, after)
                case Unsubscribe(stream=stream):
                    await hub.unsubscribe(conn, stream)
                case Ping():
                    hub.reply(conn, protocol.PONG)
                case ProtocolError():
                    hub.reply(conn, protocol.protocol_error(frame))


def _origin_allowed(websocket: WebSocket, origin: str, settings: Settings) -> bool:
    """The page's own origin (the Host it asked for), or one listed in CARETEAM_ALLOWED_ORIGINS."""
    if origin in settings.origins:
        return True
    host = websocket.headers.get("host")
    scheme = "https" if websocket.url.scheme == "wss" else "http"
    return host is not None and origin == f"{scheme}://{host}"


async def _authenticate(
    websocket: WebSocket, settings: Settings, authorization: str | None, cookie: str | None
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
    async with unit_of_work(websocket.app.state.sessions) as session:
        return await resolve(
            session,
            secret,
            kind=kind,
            settings=settings,
            request_id=websocket.scope.get("state", {}).get("request_id"),
            client_ip=websocket.client.host if websocket.client else None,
        )


async def _refuse(websocket: WebSocket, status: int, close_code: int, detail: str) -> None:
    """Refuse the upgrade with an HTTP answer (problem+json) if the server can; else close unaccepted."""
    if "websocket.http.response" not in websocket.scope.get("extensions", {}):
        await websocket.close(close_code, detail)
        return
    slug, title = _REFUSALS[status]
    body = orjson.dumps({"type": f"/problems/{slug}", "title": title, "status": status, "detail": detail})
    headers = {401: {"WWW-Authenticate": "Bearer"}, 503: {"Retry-After": str(outage.RETRY_AFTER_SECONDS)}}
    await websocket.send_denial_response(
        Response(body, status_code=status, media_type="application/problem+json", headers=headers.get(status))
    )


_REFUSALS = {
    401: ("unauthenticated", "Sign-in required"),
    403: ("forbidden", "Forbidden"),
    503: ("unavailable", "Database unavailable"),
}
