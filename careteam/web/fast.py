"""Thin routes for the hottest writes: the same service call as their FastAPI route, without FastAPI's
per-request machinery (dependency solving, parameter and response models) for a well-formed request.

A profile of ``PATCH /api/v1/tasks/{id}`` (docs/benchmarks.md, "Where the CPU of one write goes") put a third
of its CPU in routing, dependency solving and response building before any SQL. A ``FastRoute`` sits in
front of the FastAPI route of the same path and method and serves a request only when it is plainly well
formed: its path id is digits in range, its ``If-Match`` an ETag, its body JSON that the route's body model
accepts. Anything else (a malformed id, header or body, another content type) is handed to the FastAPI route
untouched, body and all, so every refusal is exactly the FastAPI route's, field names included. The FastAPI
route stays the contract: it is what ``/openapi.json`` describes, and the fallback.

What a served request goes through is the FastAPI route's own code: the unit of work of
``deps.request_unit_of_work`` (one transaction, the 412's audited read), the actor of ``deps.signed_in_actor``
(session cache, CSRF for a cookie, a reset password, an EMR interface account), the app's clock, and the
exceptions the service raises, which the app's handlers turn into problem+json as for any route.
``tests/web/test_fast_routes.py`` sends the same requests through both and compares the answers.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from pydantic import BaseModel, ValidationError
from sqlmodel.ext.asyncio.session import AsyncSession
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Match, Route
from starlette.types import Message, Receive, Scope, Send

from careteam.core.actor import Actor
from careteam.web import deps

# What a thin endpoint gets: the path id, the validated body, the If-Match version, the actor, the unit of
# work's session, the app's time; what it returns: the answer's JSON-ready body and its version (ETag).
FastWrite = Callable[[int, Any, int, Actor, AsyncSession, Any], Awaitable[tuple[BaseModel, int]]]

_MAX_ID = 2**31


# Scope key: set on a request a ``FastRoute`` handed back to the router, which then passes it by.
_FALLEN_BACK = "careteam.fast_route.fallback"


class FastRoute(Route):
    """``path`` (with one id parameter, ``param``) and one ``method``, served by ``write`` when the request is
    well formed, else routed again past this route, to the FastAPI route of the same path and method."""

    def __init__(
        self, path: str, method: str, *, param: str, body: type[BaseModel], write: FastWrite
    ) -> None:
        super().__init__(path, self._serve, methods=[method], include_in_schema=False)
        self.param, self.body, self.write = param, body, write

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if scope.get(_FALLEN_BACK):
            return Match.NONE, {}
        match, child = super().matches(scope)
        # Another method on this path is the FastAPI routes' business (their 405 and Allow, web/allow.py).
        return (match, child) if match is Match.FULL else (Match.NONE, {})

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope["route"] = self  # the access log's and metrics' route template (web.middleware.route_template)
        request = Request(scope, receive)
        raw = await request.body()
        parsed = self._well_formed(request, raw)
        if parsed is None:
            await self._fall_back(scope, raw, send)
            return
        response = await self._serve_parsed(request, *parsed)
        await response(scope, receive, send)

    async def _serve(self, request: Request) -> Response:  # pragma: no cover - handle() serves every request
        raise NotImplementedError

    def _well_formed(self, request: Request, raw: bytes) -> tuple[int, Any, int] | None:
        value = request.path_params.get(self.param, "")
        if not (isinstance(value, str) and value.isascii() and value.isdigit() and 0 < int(value) < _MAX_ID):
            return None
        etag = request.headers.get(deps.IF_MATCH)
        version = deps.etag_version(etag) if etag is not None else None
        if version is None:
            return None
        media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if media != "application/json":
            return None
        try:
            body = self.body.model_validate_json(raw)
        except ValidationError:
            return None
        return int(value), body, version

    async def _serve_parsed(self, request: Request, item_id: int, body: Any, version: int) -> Response:
        async with deps.request_unit_of_work(request) as session:
            actor = deps.require_actor(request, await deps.signed_in_actor(request, session))
            answer, new_version = await self.write(
                item_id, body, version, actor, session, await deps.current_time(request)
            )
            content = orjson.dumps(answer.model_dump(mode="json"))
        return Response(content, media_type="application/json", headers={"ETag": deps.etag(new_version)})

    async def _fall_back(self, scope: Scope, raw: bytes, send: Send) -> None:
        """Route the request again, body and all, past this route: the FastAPI route answers it."""
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if sent:
                return {"type": "http.disconnect"}
            sent = True
            return {"type": "http.request", "body": raw, "more_body": False}

        scope[_FALLEN_BACK] = True
        for key in ("route", "endpoint", "path_params"):
            scope.pop(key, None)
        await scope["router"](scope, replay, send)
