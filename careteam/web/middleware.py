"""ASGI middleware: a request id on every request, the security headers on every response, and one access
log line and the request metrics per request."""

from __future__ import annotations

import logging
import re
import secrets
import time

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from careteam import metrics

access_log = logging.getLogger("careteam.access")

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'self'; "
    "form-action 'self'; frame-ancestors 'none'"
)
# The API docs page loads Swagger UI with an inline bootstrap script; it alone gets a looser policy.
DOCS_CSP = "default-src 'self' 'unsafe-inline' https:; img-src 'self' data: https:; frame-ancestors 'none'"
DOCS_PATHS = ("/docs", "/redoc")


class RequestContext:
    """Sets ``scope["state"]["request_id"]`` (kept from X-Request-ID when well-formed), adds the headers,
    writes the access log and counts the request (``careteam.metrics``).

    The access log has the method, the route's template (``/api/v1/patients/{patient_id}``: never the path,
    whose ids and query string could identify a patient), the status, the time taken, the request id and
    the signed-in user's id (``web.deps.optional_actor`` sets it): no patient data. It is one line per
    request, JSON with ``CARETEAM_LOG_FORMAT=json`` (careteam/logs.py).
    """

    def __init__(self, app: ASGIApp, *, hsts: bool = False) -> None:
        self.app = app
        self.hsts = hsts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        rid = request_id(scope)
        if scope["type"] == "websocket":
            # /ws never comes here (the app hands it to realtime.endpoint first): any other path's socket
            # is refused by the router.
            await self.app(scope, receive, send)
            return
        csp = DOCS_CSP if scope["path"].startswith(DOCS_PATHS) else CSP
        started = time.perf_counter()
        status = 500

        async def send_with_headers(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = MutableHeaders(scope=message)
                headers["X-Request-ID"] = rid
                headers["Content-Security-Policy"] = csp
                headers["X-Content-Type-Options"] = "nosniff"
                headers["X-Frame-Options"] = "DENY"
                headers["Referrer-Policy"] = "same-origin"
                headers.setdefault("Cache-Control", "no-store")
                if self.hsts:
                    headers["Strict-Transport-Security"] = "max-age=31536000; includeSubDomains"
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        finally:
            seconds = time.perf_counter() - started
            method, route = scope["method"], route_template(scope)
            metrics.request_done(method, route, status, seconds)
            if access_log.isEnabledFor(logging.INFO):
                user_id = scope["state"].get("user_id")
                duration_ms = round(seconds * 1000, 1)
                access_log.info(
                    "%s %s %s %.1fms rid=%s user=%s",
                    method,
                    route,
                    status,
                    duration_ms,
                    rid,
                    user_id,
                    extra={
                        "request_id": rid,
                        "user_id": user_id,
                        "method": method,
                        "route": route,
                        "status": status,
                        "duration_ms": duration_ms,
                    },
                )


def request_id(scope: Scope) -> str:
    """Set ``scope["state"]["request_id"]``: the client's X-Request-ID when well-formed, else a new one.
    Also called by the ``/ws`` endpoint, which the app serves ahead of this middleware."""
    incoming = b""
    for name, value in scope.get("headers") or ():
        if name == b"x-request-id":
            incoming = value
    text = incoming.decode("latin-1")
    rid = text if _REQUEST_ID.match(text) else secrets.token_hex(8)
    scope.setdefault("state", {})["request_id"] = rid
    return rid


def route_template(scope: Scope) -> str:
    """The template of the route that answered (``/api/v1/plans/{plan_id}``, ``/static/{path}``), or
    ``unmatched``: never the path a client sent.

    A route knows its template relative to the router it is declared on (``/plans/{plan_id}``); the
    prefixes it was included under (``/api/v1``) are the part of the path before what the route matched,
    literal text by construction, so they are read back from the path. Only public ASGI and Starlette
    scope keys are read (``route``, ``path_params``, ``root_path``), not FastAPI's routing internals.
    """
    route = scope.get("route")
    template = getattr(route, "path_format", None)
    if not isinstance(template, str):
        # A mounted app (the static files) is named by its mount point, which the router appended to
        # ``root_path``: literal text as well.
        root, app_root = scope.get("root_path", ""), scope.get("app_root_path", "")
        return f"{root[len(app_root) :]}/{{path}}" if len(root) > len(app_root) else metrics.UNMATCHED
    path: str = scope["path"]
    try:
        matched = template.format_map(scope.get("path_params") or {})
    except (KeyError, IndexError, ValueError):
        return template
    return path[: -len(matched)] + template if matched and path.endswith(matched) else template
