"""RFC 9457 problem details: every error the API gives has this shape and a stable ``type``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from pydantic import BaseModel
from sqlalchemy.exc import DBAPIError, IntegrityError
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


def _field_path(loc: tuple[Any, ...] | list[Any]) -> str:
    return ".".join(str(part) for part in loc)


def _sqlstate(exc: DBAPIError) -> str:
    for err in (exc.orig, getattr(exc.orig, "__cause__", None)):
        code = getattr(err, "sqlstate", None) or getattr(err, "pgcode", None)
        if isinstance(code, str):
            return code
    return ""


def domain_error_response(exc: DomainError) -> Response:
    match exc:
        case NotFound():
            return problem(404, "Not found", exc.detail)
        case Forbidden():
            return problem(403, "Forbidden", exc.detail)
        case Unauthenticated():
            return problem(401, "Sign-in required", exc.detail, headers={"WWW-Authenticate": "Bearer"})
        case Conflict():
            return problem(412, "Changed by someone else", exc.detail, current=exc.current)
        case Duplicate():
            return problem(
                409,
                "Already exists",
                exc.detail,
                type_="duplicate",
                errors=[{"field": exc.field, "message": exc.detail}],
            )
        case InvalidTransition():
            return problem(409, "Transition not allowed", exc.detail, type_="invalid-transition")
        case ValidationFailed():
            return problem(
                422, "Invalid input", exc.detail, errors=[{"field": exc.field, "message": exc.detail}]
            )
        case Throttled():
            return problem(
                429, "Too many attempts", exc.detail, headers={"Retry-After": str(exc.retry_after)}
            )
    return problem(400, "Bad request", exc.detail)


HtmlErrorPage = Callable[[Request, int, str], Response]


def _wants_html(request: Request) -> bool:
    return not request.url.path.startswith("/api/") and "text/html" in request.headers.get("accept", "")


def install(app: FastAPI, *, html_page: HtmlErrorPage | None = None) -> None:
    """Map every error to problem+json: domain errors, validation, HTTP errors, integrity races.

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
        if html_page is not None and _wants_html(request):
            return html_page(request, exc.status_code, str(exc.detail) if exc.detail else "")
        return problem(
            exc.status_code,
            _STATUS_SLUG.get(exc.status_code, "error").replace("-", " ").capitalize(),
            str(exc.detail) if exc.detail else None,
            headers=dict(exc.headers) if exc.headers else None,
        )

    @app.exception_handler(DBAPIError)
    async def _data(_request: Request, exc: DBAPIError) -> Response:
        # A value the database refuses (SQLSTATE class 22: out of range, bad encoding): the client's input.
        if _sqlstate(exc).startswith("22"):
            return problem(422, "Invalid input", "A value is out of range or not valid text.")
        # The database dropped the connection (a restart, a failover): this request was rolled back and
        # the pool replaces its connections, so the same request may simply be sent again.
        if exc.connection_invalidated:
            return problem(
                503,
                "Database unavailable",
                "The database connection was lost; nothing was saved. Try again.",
                headers={"Retry-After": "1"},
            )
        raise exc

    @app.exception_handler(IntegrityError)
    async def _integrity(_request: Request, _exc: IntegrityError) -> Response:
        # Two requests raced past a uniqueness check; the loser gets a clean 409, nothing stored.
        return problem(409, "Conflicting change", "The change collides with another; reload and retry.")
