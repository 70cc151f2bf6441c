"""Accounts' HTML pages: sign-in and sign-out, her account (password, sessions), and the administrators'
account list."""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import replace
from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import Response
from pydantic import ValidationError
from sqlmodel.ext.asyncio.session import AsyncSession

from careteam.accounts import service as accounts
from careteam.accounts import sessions as auth_sessions
from careteam.accounts.schemas import PasswordChange, SessionPublic, UserCreate, UserUpdate
from careteam.core.actor import Actor
from careteam.core.errors import (
    Conflict,
    Duplicate,
    NotFound,
    Throttled,
    ValidationFailed,
)
from careteam.core.vocab import ClinicRole
from careteam.settings import Settings
from careteam.web.deps import Id, OptionalActor, SettingsDep, client_ip, request_id
from careteam.web.forms import (
    PASSWORD_PAGE,
    STALE_FORM,
    BadCsrfToken,
    Db,
    Editor,
    PageRoute,
    Viewer,
    field_errors,
    forget_session_cookie,
    form_version,
    require_admin,
    same_secret,
    see_other,
)
from careteam.web.problems import status_of
from careteam.web.templating import Pager, page_number, render

LOGIN_CSRF_COOKIE = "careteam_login_csrf"

USERS_PER_PAGE = 50

BAD_LOGIN = "Unknown username or wrong password."

STALE_ACCOUNT = (
    "Someone changed this account first. Nothing was changed by you: "
    "the list below is up to date, check it and try again."
)

# What a chosen password must be (the strength rule is zxcvbn: accounts/passwords.py).
CHOSEN_PASSWORD_RULE = (
    "At least 8 characters, not easy to guess (a few uncommon words are best), at most 256."  # noqa: S105
)

USER_HINTS = {
    "username": "2 to 64 characters: lowercase letters, digits, dot, hyphen or underscore.",
    "display_name": "Enter the name colleagues know this clinician by (up to 200 characters).",
    "discipline": "Choose a discipline.",
    "role": "Choose clinician, administrator or EMR interface.",
    "password": CHOSEN_PASSWORD_RULE,
}

router = APIRouter(route_class=PageRoute, include_in_schema=False)


def _safe_next(value: str | None) -> str:
    """Only a path on this site: "/x" yes; "//host", "/\\host", "https://host" or junk give /patients."""
    if (
        not value
        or len(value) > 2000
        or not value.startswith("/")
        or value.startswith("//")
        or "\\" in value
        or any(ord(c) < 0x20 or ord(c) == 0x7F for c in value)
    ):
        return "/patients"
    return value


def _login_page(
    request: Request,
    settings: Settings,
    *,
    next_path: str,
    username: str = "",
    error: str | None = None,
    status: int = 200,
    fresh_token: bool = False,
    headers: dict[str, str] | None = None,
) -> Response:
    """The sign-in form, with its double-submit CSRF cookie (there is no session to hold a token yet)."""
    token = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    # Reuse a well-formed token, so two sign-in tabs do not invalidate each other.
    if fresh_token or len(token) != 43 or not token.replace("-", "").replace("_", "").isalnum():
        token = secrets.token_urlsafe(32)
    response = render(
        request,
        "accounts/login.html",
        {"login_csrf": token, "next_path": next_path, "username": username, "error": error},
        status_code=status,
        headers=headers,
    )
    response.set_cookie(
        LOGIN_CSRF_COOKIE, token, path="/", httponly=True, samesite="strict", secure=settings.production
    )
    return response


@router.get("/login")
async def login_form(
    request: Request,
    settings: SettingsDep,
    actor: OptionalActor,
    next_path: Annotated[str, Query(alias="next")] = "",
) -> Response:
    """The sign-in page; someone already signed in goes straight on."""
    if actor is not None:
        return see_other(_safe_next(next_path))
    return _login_page(request, settings, next_path=_safe_next(next_path))


@router.post("/login")
async def login_submit(
    request: Request,
    session: Db,
    settings: SettingsDep,
    username: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    next_path: Annotated[str, Form(alias="next")] = "",
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    """Check the password and open a cookie session; failures are returned, so the attempt commits."""
    next_path = _safe_next(next_path)
    username = username.strip().lower()
    if not same_secret(request.cookies.get(LOGIN_CSRF_COOKIE), csrf_token):
        return _login_page(
            request,
            settings,
            next_path=next_path,
            username=username,
            status=403,
            fresh_token=True,
            error="This sign-in form had expired. Please enter your username and password again.",
        )
    if not username or not password:
        return _login_page(
            request,
            settings,
            next_path=next_path,
            username=username,
            status=422,
            error="Enter your username and password.",
        )
    if len(username) > 64 or len(password) > 256:
        return _login_page(request, settings, next_path=next_path, username="", status=401, error=BAD_LOGIN)
    try:
        issued = await auth_sessions.login(
            session,
            username,
            password,
            kind="cookie",
            settings=settings,
            request_id=request_id(request),
            client_ip=client_ip(request),
        )
    except Throttled as exc:
        seconds = exc.retry_after
        wait = f"{seconds} second{'s' * (seconds != 1)}" if seconds < 120 else f"{seconds // 60} minutes"
        return _login_page(
            request,
            settings,
            next_path=next_path,
            username=username,
            status=429,
            headers={"Retry-After": str(exc.retry_after)},
            error=(
                f"Too many failed sign-ins from this computer. Wait {wait} and try again; "
                "if you forgot your password, ask an administrator to reset it."
            ),
        )
    if issued is None:
        return _login_page(
            request, settings, next_path=next_path, username=username, status=401, error=BAD_LOGIN
        )
    response = see_other(next_path)
    response.set_cookie(
        settings.session_cookie_name,
        issued.secret,
        max_age=settings.session_absolute_hours * 3600,
        path="/",
        secure=settings.production,
        httponly=True,
        samesite="lax",
    )
    response.delete_cookie(
        LOGIN_CSRF_COOKIE, path="/", secure=settings.production, httponly=True, samesite="strict"
    )
    return response


@router.post("/logout")
async def logout(
    session: Db, settings: SettingsDep, actor: OptionalActor, csrf_token: Annotated[str, Form()] = ""
) -> Response:
    """End this browser's session; the same cookie is refused from now on."""
    response = see_other("/login")
    if actor is not None and actor.session_id is not None:
        expected = await auth_sessions.csrf_token_for(session, actor.session_id)
        if not same_secret(expected, csrf_token):
            raise BadCsrfToken
        await auth_sessions.close_session(session, actor.session_id, actor=actor)
    forget_session_cookie(response, settings)
    return response


async def _users_page(
    request: Request,
    session: AsyncSession,
    actor: Actor,
    *,
    page: int = 1,
    form: Mapping[str, str] | None = None,
    errors: Mapping[str, str] | None = None,
    problem: str | None = None,
    reset: Mapping[str, str] | None = None,
    status: int = 200,
) -> Response:
    pager = Pager("/admin/users", page, USERS_PER_PAGE, 0)
    users, total = await accounts.list_users(session, actor=actor, offset=pager.offset, limit=pager.size)
    context = {
        "section": "users",
        "users": users,
        "pager": replace(pager, total=total),
        "form": {
            "username": "",
            "display_name": "",
            "discipline": "",
            "role": ClinicRole.clinician.value,
            **(form or {}),
        },
        "errors": dict(errors or {}),
        "problem": problem,
        "reset": reset,
    }
    # A temporary password on the page: never kept by a cache or the browser's history.
    headers = {"Cache-Control": "no-store"} if reset else None
    return render(request, "accounts/users.html", context, status_code=status, headers=headers)


@router.get("/admin/users")
async def user_list(request: Request, session: Db, actor: Viewer, page: str = "1") -> Response:
    """The clinic's accounts (administrators)."""
    require_admin(actor)
    return await _users_page(request, session, actor, page=page_number(page))


@router.post("/admin/users")
async def create_user(
    request: Request,
    session: Db,
    actor: Editor,
    username: Annotated[str, Form()] = "",
    display_name: Annotated[str, Form()] = "",
    discipline: Annotated[str, Form()] = "",
    role: Annotated[str, Form()] = ClinicRole.clinician.value,
    password: Annotated[str, Form()] = "",
) -> Response:
    """Open an account (administrators)."""
    require_admin(actor)
    # The password is never sent back to the browser.
    form = {"username": username, "display_name": display_name, "discipline": discipline, "role": role}
    try:
        body = UserCreate.model_validate({**form, "discipline": discipline or None, "password": password})
    except ValidationError as exc:
        errors = field_errors(exc, USER_HINTS)
        return await _users_page(request, session, actor, form=form, errors=errors, status=422)
    try:
        async with session.begin_nested():
            user = await accounts.create_user(session, body, actor=actor)
    except Duplicate as exc:
        errors = {exc.field: exc.detail}
        return await _users_page(request, session, actor, form=form, errors=errors, status=status_of(exc))
    except ValidationFailed as exc:
        errors = {exc.field: exc.detail}
        return await _users_page(request, session, actor, form=form, errors=errors, status=422)
    return see_other(f"/admin/users#user-{user.id}")


@router.post("/admin/users/{user_id}/active")
async def set_user_active(
    request: Request,
    user_id: Id,
    session: Db,
    actor: Editor,
    active: Annotated[str, Form()] = "",
    version: Annotated[str, Form()] = "",
    page: Annotated[str, Form()] = "1",
) -> Response:
    """Activate or deactivate an account; deactivation ends its sessions at once."""
    require_admin(actor)
    page_no = page_number(page)
    expected = form_version(version)
    flag = {"true": True, "false": False}.get(active)
    if expected is None or flag is None:
        return await _users_page(request, session, actor, page=page_no, problem=STALE_FORM, status=422)
    try:
        async with session.begin_nested():
            await accounts.update_user(
                session, user_id, UserUpdate(active=flag), expected_version=expected, actor=actor
            )
    except Conflict as exc:
        return await _users_page(
            request, session, actor, page=page_no, problem=STALE_ACCOUNT, status=status_of(exc)
        )
    return see_other(Pager("/admin/users", page_no, USERS_PER_PAGE, 0).url(page_no) + f"#user-{user_id}")


@router.post("/admin/users/{user_id}/password-reset")
async def reset_password(
    request: Request,
    user_id: Id,
    session: Db,
    actor: Editor,
    page: Annotated[str, Form()] = "1",
) -> Response:
    """Reset a clinician's password (administrators): the page shows the generated temporary password this
    once (answered, not redirected to, so it is in no address); she is signed out everywhere at once."""
    require_admin(actor)
    page_no = page_number(page)
    try:
        async with session.begin_nested():
            user, password = await accounts.reset_password(session, user_id, actor=actor)
    except ValidationFailed as exc:
        return await _users_page(request, session, actor, page=page_no, problem=exc.detail, status=422)
    reset = {"display_name": user.display_name, "username": user.username, "password": password}
    return await _users_page(request, session, actor, page=page_no, reset=reset)


SESSION_GONE = "That session had already ended: the list below is up to date."

PASSWORD_HINTS = {
    "current_password": "Enter your current password.",
    "new_password": CHOSEN_PASSWORD_RULE,
}


async def _password_page(
    request: Request,
    session: AsyncSession,
    actor: Actor,
    errors: Mapping[str, str] | None = None,
    status: int = 200,
    *,
    changed: bool = False,
    revoked: bool = False,
    problem: str | None = None,
) -> Response:
    """Her account page: the password form, then where she is signed in (each session or token revocable)."""
    settings: Settings = request.app.state.settings
    rows = await auth_sessions.list_sessions(session, actor.user_id, settings=settings, actor=actor)
    context = {
        "errors": dict(errors or {}),
        "changed": changed,
        "revoked": revoked,
        "problem": problem,
        "sessions": [SessionPublic.of(r, current_id=actor.session_id) for r in rows],
    }
    return render(request, "accounts/password.html", context, status_code=status)


@router.get(PASSWORD_PAGE)
async def password_form(
    request: Request, session: Db, actor: Viewer, changed: bool = False, revoked: bool = False
) -> Response:
    """Choose a new password (her name in the header leads here); after an administrator's reset, every
    page leads here until it is done. ``changed`` says a change she chose herself went through, ``revoked``
    that she ended one of her sessions."""
    return await _password_page(
        request, session, actor, changed=changed and not actor.must_change_password, revoked=revoked
    )


@router.post("/account/sessions/{session_id}/revoke")
async def revoke_session(
    request: Request, session_id: str, session: Db, settings: SettingsDep, actor: Editor
) -> Response:
    """End one of her sessions or API tokens now; ending this browser's own signs her out."""
    try:
        async with session.begin_nested():
            await auth_sessions.revoke_session(session, actor.user_id, session_id, actor=actor)
    except NotFound:
        return await _password_page(request, session, actor, problem=SESSION_GONE, status=404)
    if session_id == auth_sessions.handle_of(actor.session_id or ""):
        response = see_other("/login")
        forget_session_cookie(response, settings)
        return response
    return see_other(f"{PASSWORD_PAGE}?revoked=true#sessions")


@router.post(PASSWORD_PAGE)
async def change_password(
    request: Request,
    session: Db,
    actor: Editor,
    current_password: Annotated[str, Form()] = "",
    new_password: Annotated[str, Form()] = "",
    confirm_password: Annotated[str, Form()] = "",
) -> Response:
    """Check the current password and set the new one; this browser stays signed in, every other session
    and token of hers ends."""
    try:
        body = PasswordChange.model_validate(
            {"current_password": current_password, "new_password": new_password}
        )
    except ValidationError as exc:
        return await _password_page(request, session, actor, field_errors(exc, PASSWORD_HINTS), status=422)
    if new_password != confirm_password:
        errors = {"confirm_password": "The two new passwords differ."}
        return await _password_page(request, session, actor, errors, status=422)
    try:
        async with session.begin_nested():
            await accounts.change_own_password(
                session,
                body.current_password,
                body.new_password,
                actor=actor,
                keep_session=actor.session_id,
            )
    except ValidationFailed as exc:
        return await _password_page(request, session, actor, {exc.field: exc.detail}, status=422)
    # After a reset she goes on to her work; a change she chose herself is confirmed where she made it.
    return see_other("/patients" if actor.must_change_password else f"{PASSWORD_PAGE}?changed=true")
