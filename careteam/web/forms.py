"""The HTML pages' shared machinery: ``PageRoute`` (failures render HTML, never problem+json), the
signed-in viewer and CSRF-checked editor, and small form helpers.

Every page route is thin: parse the form, call one service function, render or redirect. A failed request
stores nothing: failed writes run in a savepoint, and anything that escapes a route rolls the unit of work
back before the error page."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Coroutine, Mapping
from datetime import date
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Depends, Form, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse, Response
from fastapi.routing import APIRoute
from pydantic import ValidationError
from sqlalchemy.exc import IntegrityError
from sqlmodel.ext.asyncio.session import AsyncSession

from careteam.accounts import sessions as auth_sessions
from careteam.core.actor import Actor
from careteam.core.errors import DomainError, Forbidden, NotFound, Unauthenticated
from careteam.notifications import service as notifications
from careteam.settings import Settings
from careteam.web.deps import INTEGRATION_DETAIL, OptionalActor, SessionDep
from careteam.web.problems import ERRORS, error_kind
from careteam.web.templating import render

STALE_FORM = "This form is out of date. Reload the page and try again."


class SignInRequired(Exception):
    """No valid session: a page asks the visitor to sign in."""


class BadCsrfToken(Exception):
    """A form without the session's CSRF token: refused, nothing changed."""


class PasswordChangeRequired(Exception):
    """An administrator reset her password: every page sends her to choose her own first."""


# The pages an account that must change its password may still open.
PASSWORD_PAGE = "/account/password"  # noqa: S105 - a page address, not a secret
_PASSWORD_CHANGE_PAGES = frozenset({PASSWORD_PAGE, "/logout"})

_FAILURES = (
    DomainError,
    RequestValidationError,
    IntegrityError,
    SignInRequired,
    BadCsrfToken,
    PasswordChangeRequired,
)


class PageRoute(APIRoute):
    """An HTML route: its failures render ``error.html`` (or redirect to sign in), never problem+json."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def page_handler(request: Request) -> Response:
            try:
                return await handler(request)
            except _FAILURES as exc:
                # Caught inside the unit of work, which commits whatever a route returns: undo first.
                db: AsyncSession | None = getattr(request.state, "db", None)
                if db is not None:
                    await db.rollback()
                return _failure_page(request, exc)

        return page_handler


def _failure_page(request: Request, exc: Exception) -> Response:
    settings: Settings = request.app.state.settings
    match exc:
        case SignInRequired() | Unauthenticated():
            if request.method in ("GET", "HEAD"):
                target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
                response: Response = see_other(f"/login?next={quote(target, safe='/')}")
            else:
                kind = ERRORS[Unauthenticated]
                response = page_error(
                    request,
                    kind.status,
                    kind.page_title,
                    "You are signed out, so this was not saved. Sign in and try again.",
                )
            if settings.session_cookie_name in request.cookies:
                forget_session_cookie(response, settings)
            return response
        case PasswordChangeRequired():
            return see_other(PASSWORD_PAGE)
        case BadCsrfToken():
            return page_error(
                request,
                403,
                "This form could not be accepted",
                "It has expired or did not come from this page. Nothing was changed. "
                "Go back, reload the page and try again.",
            )
        case IntegrityError():
            kind = error_kind(exc)
            return page_error(
                request,
                kind.status,
                kind.page_title,
                "Someone made a conflicting change at the same moment. "
                "Nothing was saved; reload and try again.",
            )
        case RequestValidationError() if any(e.get("loc", ("",))[0] == "path" for e in exc.errors()):
            return page_error(request, 404, "Not found", "There is no such page.")
        case DomainError():
            kind = error_kind(exc)
            return page_error(request, kind.status, kind.page_title, exc.detail)
    return page_error(request, 422, "Please check what you entered", "Part of the request could not be read.")


def page_error(request: Request, status: int, title: str, detail: str) -> Response:
    context = {"status": status, "title": title, "detail": detail}
    return render(request, "error.html", context, status_code=status)


async def _unit_of_work(request: Request, session: SessionDep) -> AsyncSession:
    # Kept on the request so that PageRoute can roll it back before rendering an error page.
    request.state.db = session
    return session


Db = Annotated[AsyncSession, Depends(_unit_of_work)]


async def _viewer(request: Request, session: Db, actor: OptionalActor) -> Actor:
    """The signed-in clinician; the pages' common context (actor, CSRF token, the header's unread count) is
    kept on the request."""
    if actor is None or actor.session_id is None:
        raise SignInRequired
    if actor.is_integration:  # the EMR's interface account has no pages: FHIR only
        raise Forbidden(INTEGRATION_DETAIL)
    if actor.must_change_password and request.url.path not in _PASSWORD_CHANGE_PAGES:
        raise PasswordChangeRequired
    request.state.actor = actor
    request.state.csrf_token = await auth_sessions.csrf_token_for(session, actor.session_id)
    request.state.unread = await notifications.unread_count(session, actor.user_id)
    return actor


Viewer = Annotated[Actor, Depends(_viewer)]


async def _editor(request: Request, actor: Viewer, csrf_token: Annotated[str, Form()] = "") -> Actor:
    """The signed-in clinician, submitting a form of ours: it carries her session's CSRF token."""
    if not same_secret(getattr(request.state, "csrf_token", None), csrf_token):
        raise BadCsrfToken
    return actor


Editor = Annotated[Actor, Depends(_editor)]


def same_secret(expected: str | None, given: str | None) -> bool:
    if not expected or not given:
        return False
    return secrets.compare_digest(expected.encode(), given.encode())


def see_other(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def forget_session_cookie(response: Response, settings: Settings) -> None:
    response.delete_cookie(
        settings.session_cookie_name, path="/", secure=settings.production, httponly=True, samesite="lax"
    )


def field_errors(exc: ValidationError, hints: Mapping[str, str]) -> dict[str, str]:
    """The first problem per form field, in words a clinician understands."""
    errors: dict[str, str] = {}
    for err in exc.errors():
        field = str(err["loc"][0]) if err["loc"] else "form"
        errors.setdefault(field, hints.get(field, str(err["msg"])))
    return errors


def form_version(raw: str) -> int | None:
    try:
        value = int(raw)
    except ValueError:
        return None
    return value if 0 < value < 2**31 else None


def optional_id(raw: str) -> tuple[int | None, bool]:
    """(id, ok) from an optional id filter; ("", True) is no filter."""
    raw = raw.strip()
    if not raw:
        return None, True
    if not (raw.isascii() and raw.isdecimal()) or not 0 < int(raw) < 2**31:
        return None, False
    return int(raw), True


def optional_date(raw: str) -> tuple[date | None, bool]:
    raw = raw.strip()
    if not raw:
        return None, True
    try:
        day = date.fromisoformat(raw)
    except ValueError:
        return None, False
    # The filter's bounds are whole days in UTC: the first and last days have no neighbour to reach.
    return (day, True) if date.min < day < date.max else (None, False)


def require_admin(actor: Actor) -> None:
    # Not "forbidden": to a clinician, the administration pages do not exist.
    if not actor.is_admin:
        raise NotFound("There is no such page.")
