"""RFC 9457 problem details: every error the API gives has this shape and a stable ``type``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from pydantic import BaseModel
from sqlalchemy.exc import DBAPIError, IntegrityError, SQLAlchemyError
from starlette.exceptions import HTTPException as StarletteHTTPException

from careteam.core.errors import (
    Conflict,
    DomainError,
    Duplicate,
    Forbidden,
    InvalidTransition,
    NotFound,
    Throttled,
    Unauthenticated,
    ValidationFailed,
)
from careteam.db import outage
from careteam.web import allow

MEDIA_TYPE = "application/problem+json"


class FieldError(BaseModel):
    field: str
    message: str


class Problem(BaseModel):
    """The body of every error (RFC 9457), as the OpenAPI document describes it to client generators."""

    type: str
    title: str
    status: int
    detail: str | None = None
    errors: list[FieldError] | None = None  # 422 and 409 duplicate: which field, and why
    current: dict[str, Any] | None = None  # 412: the resource as it is now


_STATUS_SLUG = {
    400: "bad-request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not-found",
    405: "method-not-allowed",
    409: "conflict",
    412: "precondition-failed",
    413: "too-large",
    415: "unsupported-media-type",
    422: "validation",
    428: "precondition-required",
    429: "too-many-requests",
    503: "unavailable",
}


def problem(
    status: int,
    title: str,
    detail: str | None = None,
    *,
    type_: str | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> Response:
    body: dict[str, Any] = {
        "type": f"/problems/{type_ or _STATUS_SLUG.get(status, 'error')}",
        "title": title,
        "status": status,
    }
    if detail:
        body["detail"] = detail
    body.update(extra)
    return Response(
        orjson.dumps(body, default=_default), status_code=status, media_type=MEDIA_TYPE, headers=headers
    )


def _default(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    raise TypeError


def method_not_allowed(allow: str) -> Response:
    """405 for an API path that exists without this method; ``allow`` lists the methods it has."""
    return problem(405, "Method not allowed", "Method Not Allowed", headers={"Allow": allow})


def body_unreadable() -> Response:
    """422 naming the body: bytes that are not JSON text in UTF-8 (RFC 8259 section 8.1)."""
    return problem(
        422,
        "Invalid input",
        "Check these fields: body",
        errors=[{"field": "body", "message": "must be JSON text encoded as UTF-8"}],
    )


def _field_path(loc: tuple[Any, ...] | list[Any]) -> str:
    return ".".join(str(part) for part in loc)


# SQLSTATEs of a transaction the database rolled back on its own, safe to retry: serialization failure,
# deadlock detected.
_TRANSIENT = frozenset({"40001", "40P01"})


@dataclass(frozen=True, slots=True)
class ErrorKind:
    """How the edge answers one kind of error, for the JSON API and the HTML pages alike."""

    status: int
    slug: str  # the problem type: ``/problems/<slug>``
    title: str  # the problem+json title (clients may show it; kept stable)
    page_title: str  # the heading of the HTML error page, in the clinic's words


# The one table of errors: a JSON problem and an HTML page answer an error with the same status.
ERRORS: dict[type[Exception], ErrorKind] = {
    NotFound: ErrorKind(404, "not-found", "Not found", "Not found"),
    Forbidden: ErrorKind(403, "forbidden", "Forbidden", "Not allowed"),
    Unauthenticated: ErrorKind(401, "unauthenticated", "Sign-in required", "Please sign in again"),
    # A stale version (If-Match, or a form's version field): someone changed the resource first.
    Conflict: ErrorKind(412, "precondition-failed", "Changed by someone else", "Changed by someone else"),
    Duplicate: ErrorKind(409, "duplicate", "Already exists", "Already exists"),
    InvalidTransition: ErrorKind(409, "invalid-transition", "Transition not allowed", "Not possible now"),
    ValidationFailed: ErrorKind(422, "validation", "Invalid input", "Please check what you entered"),
    Throttled: ErrorKind(429, "too-many-requests", "Too many attempts", "Too many attempts"),
    # Two requests raced past a uniqueness check; the loser stored nothing.
    IntegrityError: ErrorKind(409, "conflict", "Conflicting change", "Changed by someone else"),
    DomainError: ErrorKind(400, "bad-request", "Bad request", "Something is not right"),
}


def error_kind(exc: Exception) -> ErrorKind:
    """The table's row for ``exc``: its class's, or its nearest base class's."""
    for cls in type(exc).__mro__:
        kind = ERRORS.get(cls)
        if kind is not None:
            return kind
    raise LookupError(f"no error kind for {type(exc).__name__}")


def status_of(exc: Exception) -> int:
    """The HTTP status ``exc`` answers with, as a page that re-renders itself on that error needs it."""
    return error_kind(exc).status


def domain_error_response(exc: DomainError) -> Response:
    kind = error_kind(exc)
    headers: dict[str, str] | None = None
    extra: dict[str, Any] = {}
    match exc:
        case Unauthenticated():
            headers = {"WWW-Authenticate": "Bearer"}
        case Conflict():
            extra["current"] = exc.current
        case Duplicate() | ValidationFailed():
            extra["errors"] = [{"field": exc.field, "message": exc.detail}]
        case Throttled():
            headers = {"Retry-After": str(exc.retry_after)}
    return problem(kind.status, kind.title, exc.detail, type_=kind.slug, headers=headers, **extra)


HtmlErrorPage = Callable[[Request, int, str], Response]


def _wants_html(request: Request) -> bool:
    return not request.url.path.startswith("/api/") and "text/html" in request.headers.get("accept", "")


UNAVAILABLE_TITLE = "Database unavailable"
UNAVAILABLE_DETAIL = "The database cannot be reached just now; nothing was saved. Try again shortly."


def unavailable_response(request: Request, html_page: HtmlErrorPage | None) -> Response:
    """The answer to a request the database could not serve: 503 with Retry-After, a page for a browser."""
    headers = {"Retry-After": str(outage.RETRY_AFTER_SECONDS)}
    if html_page is not None and _wants_html(request):
        response = html_page(request, 503, UNAVAILABLE_DETAIL)
        response.headers.update(headers)
        return response
    return problem(503, UNAVAILABLE_TITLE, UNAVAILABLE_DETAIL, type_="unavailable", headers=headers)


def install(app: FastAPI, *, html_page: HtmlErrorPage | None = None) -> None:
    """Map every error to problem+json: domain errors, validation, HTTP errors, integrity races, and the
    database being unreachable (503 with Retry-After, ``careteam.db.outage`` deciding what that is).

    ``html_page`` renders the HTTP errors of non-API paths for browsers (an unknown page, a wrong method).
    """

    @app.exception_handler(DomainError)
    async def _domain(_request: Request, exc: DomainError) -> Response:
        return domain_error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def _validation(_request: Request, exc: RequestValidationError) -> Response:
        errors = [
            {"field": _field_path(err.get("loc", ())), "message": str(err.get("msg", "invalid"))}
            for err in exc.errors()
        ]
        fields = ", ".join(e["field"] for e in errors)
        return problem(422, "Invalid input", f"Check these fields: {fields}", errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 400 and exc.__cause__ is not None:
            # FastAPI could not read the JSON body (not UTF-8 text, nested too deep): the client's input.
            return body_unreadable()
        headers = dict(exc.headers) if exc.headers else {}
        if exc.status_code == 405:
            headers["Allow"] = allow.header(request)  # every method of the path, not one route's
        if html_page is not None and _wants_html(request):
            response = html_page(request, exc.status_code, str(exc.detail) if exc.detail else "")
            response.headers.update(headers)
            return response
        return problem(
            exc.status_code,
            _STATUS_SLUG.get(exc.status_code, "error").replace("-", " ").capitalize(),
            str(exc.detail) if exc.detail else None,
            headers=headers or None,
        )

    @app.exception_handler(DBAPIError)
    async def _data(request: Request, exc: DBAPIError) -> Response:
        code = outage.sqlstate(exc)
        # A value the database refuses (SQLSTATE class 22: out of range, bad encoding): the client's input.
        if code.startswith("22"):
            return problem(422, "Invalid input", "A value is out of range or not valid text.")
        # PostgreSQL picked this transaction as a deadlock's victim (40P01) or could not serialise it
        # (40001): it was rolled back whole, and the same request sent again normally succeeds.
        if code in _TRANSIENT:
            return problem(
                503,
                "Database busy",
                "The change collided with another at the database; nothing was saved. Try again.",
                headers={"Retry-After": "1"},
            )
        return await _unavailable(request, exc)

    # The database cannot be reached (refused, reset, timed out, shutting down, pool exhausted): the request's
    # transaction was rolled back whole, so the same request may simply be sent again. One log line per
    # outage (careteam.db.outage), not a traceback per request.
    async def _unavailable(request: Request, exc: Exception) -> Response:
        if not outage.is_unavailable(exc):
            raise exc
        outage.note_down(exc)
        return unavailable_response(request, html_page)

    app.add_exception_handler(OSError, _unavailable)
    app.add_exception_handler(SQLAlchemyError, _unavailable)

    @app.exception_handler(IntegrityError)
    async def _integrity(_request: Request, exc: IntegrityError) -> Response:
        # Two requests raced past a uniqueness check; the loser gets a clean 409, nothing stored.
        kind = error_kind(exc)
        return problem(
            kind.status, kind.title, "The change collides with another; reload and retry.", type_=kind.slug
        )
