"""405 and its ``Allow`` header: every method the request's path has, judged by the most specific template.

FastAPI makes one route per method, so ``GET /api/v1/tasks/{task_id}`` and ``PATCH /api/v1/tasks/{task_id}``
are two routes; Starlette answers a wrong method with the ``Allow`` of the first route whose path matched,
which names one method and hides the others (RFC 9110 section 15.5.6 asks for all of them). And a literal
segment does not shadow a parameter for Starlette: ``PATCH /api/v1/conferences/suggestions`` (only GET
exists) runs ``PATCH /api/v1/conferences/{conference_id}`` and answers its 428, where OpenAPI (and a client)
expects 405, since a template's literal path wins over a parameter in the same place.

``MethodGuard`` answers 405 for those API requests before routing; ``header`` gives the 405 of a page the
same ``Allow``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from fastapi.routing import iter_route_contexts
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Receive, Scope, Send

# The order methods are listed in, for a stable header.
_ORDER = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


@dataclass(frozen=True, slots=True)
class _Template:
    regex: re.Pattern[str]
    parameters: int  # fewer: more specific ("/conferences/suggestions" before "/conferences/{id}")
    methods: frozenset[str]


def _first_segment(path: str) -> str:
    """``plans`` for ``/api/v1/plans/3`` and ``/plans/3`` alike: the key a template is indexed by."""
    return path.removeprefix("/api/v1").lstrip("/").split("/", 1)[0]


class Methods:
    """The methods of each path template of an app's routes, indexed by first segment (a request compares
    a handful of templates, not all of them)."""

    def __init__(self, routes: list[BaseRoute]) -> None:
        by_template: dict[str, tuple[re.Pattern[str], set[str]]] = {}
        for context in iter_route_contexts(routes):
            regex, methods, template = (
                getattr(context, "path_regex", None),
                context.methods,
                context.path_format,
            )
            if regex is not None and methods and template:
                by_template.setdefault(template, (regex, set()))[1].update(methods)
        self._index: dict[str, list[_Template]] = {}
        for template, (regex, methods) in by_template.items():
            segment = _first_segment(template)
            key = "{" if segment.startswith("{") else segment  # a parameter first: compared for every path
            self._index.setdefault(key, []).append(_Template(regex, template.count("{"), frozenset(methods)))

    def allowed(self, path: str) -> list[str]:
        """The methods of the most specific templates matching ``path`` (none: no route has the path)."""
        matching = [
            t
            for t in (*self._index.get(_first_segment(path), ()), *self._index.get("{", ()))
            if t.regex.match(path)
        ]
        if not matching:
            return []
        fewest = min(t.parameters for t in matching)
        methods = {m for t in matching if t.parameters == fewest for m in t.methods}
        return sorted(methods, key=lambda m: (_ORDER.index(m) if m in _ORDER else len(_ORDER), m))


def _methods(app: object) -> Methods:
    state = app.state  # type: ignore[attr-defined]
    table: Methods | None = getattr(state, "allowed_methods", None)
    if table is None:  # built once, on the first request, when every router is included
        table = state.allowed_methods = Methods(app.routes)  # type: ignore[attr-defined]
    return table


def header(request: Request) -> str:
    """The ``Allow`` of a 405 for this request's path."""
    return ", ".join(_methods(request.app).allowed(request.url.path))


class MethodGuard:
    """ASGI middleware: a request under ``prefix`` whose method its path's most specific template lacks
    gets 405 (``refuse(allow)``) without reaching a route that merely matches the path too."""

    def __init__(self, app: ASGIApp, *, refuse: Callable[[str], Response], prefix: str = "/api/") -> None:
        self.app = app
        self.refuse = refuse
        self.prefix = prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith(self.prefix):
            allowed = _methods(scope["app"]).allowed(scope["path"])
            if allowed and scope["method"] not in allowed:
                await self.refuse(", ".join(allowed))(scope, receive, send)
                return
        await self.app(scope, receive, send)
