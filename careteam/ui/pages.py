"""The HTML pages: sign-in, patients and their care teams; accounts and the audit trail for administrators.

Every route here is thin: parse the form, call one domain function, render or redirect. Failures render
HTML (never problem+json) through ``PageRoute``, and a failed request stores nothing: failed writes run
in a savepoint, and anything that escapes a route rolls the unit of work back before the error page.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse, Response
from fastapi.routing import APIRoute
from pydantic import ValidationError
from sqlalchemy.exc import IntegrityError
from sqlmodel.ext.asyncio.session import AsyncSession

from careteam.api.deps import Id, OptionalActor, SessionDep, SettingsDep, client_ip, request_id
from careteam.auth import sessions as auth_sessions
from careteam.codes import AuditAction, ClinicRole, TeamRole
from careteam.domain import accounts, audit, patients, plans
from careteam.domain.actor import Actor
from careteam.domain.errors import (
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
from careteam.domain.schemas import MemberCreate, PatientCreate, PlanCreate, UserCreate, UserUpdate
from careteam.settings import Settings
from careteam.ui.templating import Pager, page_number, render

LOGIN_CSRF_COOKIE = "careteam_login_csrf"
PATIENTS_PER_PAGE = 25
USERS_PER_PAGE = 50
AUDIT_PER_PAGE = 50
# Directory look-ups for pickers (team members, audit filter): a clinic's whole staff fits.
DIRECTORY_LIMIT = 1000

BAD_LOGIN = "Unknown username or wrong password."
STALE_TEAM = (
    "Someone changed this care team first. Nothing was changed by you: "
    "the team below is up to date, check it and try again."
)
STALE_ACCOUNT = (
    "Someone changed this account first. Nothing was changed by you: "
    "the list below is up to date, check it and try again."
)
STALE_FORM = "This form is out of date. Reload the page and try again."

PATIENT_HINTS = {
    "mrn": "Enter the MRN: letters, digits and hyphens, up to 32 characters.",
    "name": "Enter the patient's full name (up to 200 characters).",
    "birth_date": "Enter the birth date as a valid date.",
}
MEMBER_HINTS = {"user_id": "Choose a clinician.", "role": "Choose lead or member."}
USER_HINTS = {
    "username": "2 to 64 characters: lowercase letters, digits, dot, hyphen or underscore.",
    "display_name": "Enter the name colleagues know this clinician by (up to 200 characters).",
    "discipline": "Choose a discipline.",
    "role": "Choose clinician or administrator.",
    "password": "At least 8 characters (a passphrase is best), at most 256.",
}


# --- Failures as pages ----------------------------------------------------------------------------


class SignInRequired(Exception):
    """No valid session: a page asks the visitor to sign in."""


class BadCsrfToken(Exception):
    """A form without the session's CSRF token: refused, nothing changed."""


_FAILURES = (DomainError, RequestValidationError, IntegrityError, SignInRequired, BadCsrfToken)


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
                response: Response = _see_other(f"/login?next={quote(target, safe='/')}")
            else:
                response = _error(
                    request,
                    401,
                    "Please sign in again",
                    "You are signed out, so this was not saved. Sign in and try again.",
                )
            if settings.session_cookie_name in request.cookies:
                _forget_session_cookie(response, settings)
            return response
        case BadCsrfToken():
            return _error(
                request,
                403,
                "This form could not be accepted",
                "It has expired or did not come from this page. Nothing was changed. "
                "Go back, reload the page and try again.",
            )
        case NotFound():
            return _error(request, 404, "Not found", exc.detail)
        case Forbidden():
            return _error(request, 403, "Not allowed", exc.detail)
        case Conflict():
            return _error(request, 409, "Changed by someone else", exc.detail)
        case Duplicate():
            return _error(request, 409, "Already exists", exc.detail)
        case InvalidTransition():
            return _error(request, 409, "Not possible now", exc.detail)
        case ValidationFailed():
            return _error(request, 422, "Please check what you entered", exc.detail)
        case Throttled():
            return _error(request, 429, "Too many attempts", exc.detail)
        case IntegrityError():
            # Two requests raced past a uniqueness check; this one lost and stored nothing.
            return _error(
                request,
                409,
                "Changed by someone else",
                "Someone made a conflicting change at the same moment. "
                "Nothing was saved; reload and try again.",
            )
        case RequestValidationError() if any(e.get("loc", ("",))[0] == "path" for e in exc.errors()):
            return _error(request, 404, "Not found", "There is no such page.")
        case DomainError():
            return _error(request, 400, "Something is not right", exc.detail)
    return _error(request, 422, "Please check what you entered", "Part of the request could not be read.")


def _error(request: Request, status: int, title: str, detail: str) -> Response:
    context = {"status": status, "title": title, "detail": detail}
    return render(request, "error.html", context, status_code=status)


router = APIRouter(route_class=PageRoute, include_in_schema=False)


# --- Dependencies ---------------------------------------------------------------------------------


async def _unit_of_work(request: Request, session: SessionDep) -> AsyncSession:
    # Kept on the request so that PageRoute can roll it back before rendering an error page.
    request.state.db = session
    return session


Db = Annotated[AsyncSession, Depends(_unit_of_work)]


async def _viewer(request: Request, session: Db, actor: OptionalActor) -> Actor:
    """The signed-in clinician; the pages' common context (actor, CSRF token) is kept on the request."""
    if actor is None or actor.session_id is None:
        raise SignInRequired
    request.state.actor = actor
    request.state.csrf_token = await auth_sessions.csrf_token_for(session, actor.session_id)
    return actor


Viewer = Annotated[Actor, Depends(_viewer)]


async def _editor(request: Request, actor: Viewer, csrf_token: Annotated[str, Form()] = "") -> Actor:
    """The signed-in clinician, submitting a form of ours: it carries her session's CSRF token."""
    if not _same_secret(getattr(request.state, "csrf_token", None), csrf_token):
        raise BadCsrfToken
    return actor


Editor = Annotated[Actor, Depends(_editor)]


def _same_secret(expected: str | None, given: str | None) -> bool:
    if not expected or not given:
        return False
    return secrets.compare_digest(expected.encode(), given.encode())


# --- Helpers --------------------------------------------------------------------------------------


def _see_other(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


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


def _forget_session_cookie(response: Response, settings: Settings) -> None:
    response.delete_cookie(
        settings.session_cookie_name, path="/", secure=settings.production, httponly=True, samesite="lax"
    )


def _field_errors(exc: ValidationError, hints: Mapping[str, str]) -> dict[str, str]:
    """The first problem per form field, in words a clinician understands."""
    errors: dict[str, str] = {}
    for err in exc.errors():
        field = str(err["loc"][0]) if err["loc"] else "form"
        errors.setdefault(field, hints.get(field, str(err["msg"])))
    return errors


def _version(raw: str) -> int | None:
    try:
        value = int(raw)
    except ValueError:
        return None
    return value if 0 < value < 2**31 else None


def _optional_id(raw: str) -> tuple[int | None, bool]:
    """(id, ok) from an optional id filter; ("", True) is no filter."""
    raw = raw.strip()
    if not raw:
        return None, True
    if not (raw.isascii() and raw.isdecimal()) or not 0 < int(raw) < 2**31:
        return None, False
    return int(raw), True


def _optional_date(raw: str) -> tuple[date | None, bool]:
    raw = raw.strip()
    if not raw:
        return None, True
    try:
        day = date.fromisoformat(raw)
    except ValueError:
        return None, False
    # The filter's bounds are whole days in UTC: the first and last days have no neighbour to reach.
    return (day, True) if date.min < day < date.max else (None, False)


# --- Sign-in ---------------------------------------------------------------------------------------


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
        "login.html",
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
        return _see_other(_safe_next(next_path))
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
    if not _same_secret(request.cookies.get(LOGIN_CSRF_COOKIE), csrf_token):
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
        minutes = max(1, exc.retry_after // 60)
        return _login_page(
            request,
            settings,
            next_path=next_path,
            username=username,
            status=429,
            headers={"Retry-After": str(exc.retry_after)},
            error=(
                f"Too many failed sign-ins for this account. Wait {minutes} minutes and try again, "
                "or ask an administrator to reset your password."
            ),
        )
    if issued is None:
        return _login_page(
            request, settings, next_path=next_path, username=username, status=401, error=BAD_LOGIN
        )
    response = _see_other(next_path)
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
    response = _see_other("/login")
    if actor is not None and actor.session_id is not None:
        expected = await auth_sessions.csrf_token_for(session, actor.session_id)
        if not _same_secret(expected, csrf_token):
            raise BadCsrfToken
        await auth_sessions.close_session(session, actor.session_id, actor=actor)
    _forget_session_cookie(response, settings)
    return response


# --- Patients -------------------------------------------------------------------------------------


@router.get("/")
async def home() -> Response:
    return _see_other("/patients")


async def _patients_page(
    request: Request,
    session: AsyncSession,
    actor: Actor,
    *,
    q: str = "",
    page: int = 1,
    form: Mapping[str, str] | None = None,
    errors: Mapping[str, str] | None = None,
    status: int = 200,
) -> Response:
    q = q.strip()[:100]
    pager = Pager("/patients", page, PATIENTS_PER_PAGE, 0, (("q", q),))
    rows, total = await patients.list_patients(
        session, actor=actor, q=q or None, offset=pager.offset, limit=pager.size
    )
    context = {
        "section": "patients",
        "patients": rows,
        "q": q,
        "pager": replace(pager, total=total),
        "form": {"mrn": "", "name": "", "birth_date": "", **(form or {})},
        "errors": dict(errors or {}),
        "today": date.today(),
    }
    return render(request, "patients.html", context, status_code=status)


@router.get("/patients")
async def patient_list(
    request: Request, session: Db, actor: Viewer, q: str = "", page: str = "1"
) -> Response:
    """The patients whose care team you are on (every patient, for administrators)."""
    return await _patients_page(request, session, actor, q=q, page=page_number(page))


@router.post("/patients")
async def register_patient(
    request: Request,
    session: Db,
    actor: Editor,
    mrn: Annotated[str, Form()] = "",
    name: Annotated[str, Form()] = "",
    birth_date: Annotated[str, Form()] = "",
) -> Response:
    """Register a patient (IPM leads and administrators) and open her page."""
    form = {"mrn": mrn, "name": name, "birth_date": birth_date}
    try:
        body = PatientCreate.model_validate({"mrn": mrn, "name": name, "birth_date": birth_date or None})
    except ValidationError as exc:
        errors = _field_errors(exc, PATIENT_HINTS)
        return await _patients_page(request, session, actor, form=form, errors=errors, status=422)
    try:
        async with session.begin_nested():
            patient = await patients.create_patient(session, body, actor=actor)
    except Duplicate as exc:
        errors = {exc.field: exc.detail}
        return await _patients_page(request, session, actor, form=form, errors=errors, status=409)
    except ValidationFailed as exc:
        errors = {exc.field: exc.detail}
        return await _patients_page(request, session, actor, form=form, errors=errors, status=422)
    return _see_other(f"/patients/{patient.id}")


async def _patient_page(
    request: Request,
    session: AsyncSession,
    actor: Actor,
    patient_id: int,
    *,
    form: Mapping[str, str] | None = None,
    errors: Mapping[str, str] | None = None,
    problem: str | None = None,
    status: int = 200,
) -> Response:
    patient = await patients.get_patient(session, patient_id, actor=actor)
    team = await patients.get_team(session, patient_id, actor=actor)
    manages = await patients.may_manage_team(session, patient_id, actor=actor)
    care_plans, _ = await plans.list_plans(session, actor=actor, patient_id=patient_id)
    candidates = []
    if manages:
        users, _ = await accounts.list_users(session, actor=actor, active=True, limit=DIRECTORY_LIMIT)
        on_team = {m.user_id for m in team.members}
        candidates = [u for u in users if u.id not in on_team]
    context = {
        "section": "patients",
        "patient": patient,
        "team": team,
        "manages": manages,
        "candidates": candidates,
        "form": {"user_id": "", "role": TeamRole.member.value, "plan_title": "", **(form or {})},
        "errors": dict(errors or {}),
        "problem": problem,
        "today": date.today(),
        "care_plans": care_plans,
        "may_plan": await plans.may_shape_plans(session, patient_id, actor=actor),
    }
    return render(request, "patient.html", context, status_code=status)


@router.get("/patients/{patient_id}")
async def patient_detail(request: Request, patient_id: Id, session: Db, actor: Viewer) -> Response:
    """A patient's demographics and care team; another team's patient is not found."""
    return await _patient_page(request, session, actor, patient_id)


@router.post("/patients/{patient_id}/members")
async def add_member(
    request: Request,
    patient_id: Id,
    session: Db,
    actor: Editor,
    user_id: Annotated[str, Form()] = "",
    role: Annotated[str, Form()] = TeamRole.member.value,
    version: Annotated[str, Form()] = "",
) -> Response:
    """Put a clinician on the care team, unless someone changed the team since the page was loaded."""
    form = {"user_id": user_id, "role": role}
    expected = _version(version)
    if expected is None:
        return await _patient_page(
            request, session, actor, patient_id, form=form, problem=STALE_FORM, status=422
        )
    try:
        body = MemberCreate.model_validate({"user_id": user_id or None, "role": role})
    except ValidationError as exc:
        errors = _field_errors(exc, MEMBER_HINTS)
        return await _patient_page(request, session, actor, patient_id, form=form, errors=errors, status=422)
    try:
        async with session.begin_nested():
            await patients.add_member(session, patient_id, body, expected_version=expected, actor=actor)
    except Conflict:
        return await _patient_page(
            request, session, actor, patient_id, form=form, problem=STALE_TEAM, status=409
        )
    except Duplicate as exc:
        errors = {exc.field: exc.detail}
        return await _patient_page(request, session, actor, patient_id, form=form, errors=errors, status=409)
    except ValidationFailed as exc:
        errors = {exc.field: exc.detail}
        return await _patient_page(request, session, actor, patient_id, form=form, errors=errors, status=422)
    return _see_other(f"/patients/{patient_id}#care-team")


@router.post("/patients/{patient_id}/plans")
async def create_plan(
    request: Request,
    patient_id: Id,
    session: Db,
    actor: Editor,
    title: Annotated[str, Form()] = "",
) -> Response:
    """Open a care plan (a board) for the patient; the team's lead and physicians may."""
    form = {"plan_title": title}
    try:
        body = PlanCreate.model_validate({"patient_id": patient_id, "title": title})
    except ValidationError:
        errors = {"plan_title": "Give the plan a title (up to 200 characters)."}
        return await _patient_page(request, session, actor, patient_id, form=form, errors=errors, status=422)
    plan = await plans.create_plan(session, body, actor=actor)
    return _see_other(f"/plans/{plan.id}")


@router.post("/patients/{patient_id}/members/{member_id}/remove")
async def remove_member(
    request: Request,
    patient_id: Id,
    member_id: Id,
    session: Db,
    actor: Editor,
    version: Annotated[str, Form()] = "",
) -> Response:
    """Take a clinician off the care team, unless someone changed the team since the page was loaded."""
    expected = _version(version)
    if expected is None:
        return await _patient_page(request, session, actor, patient_id, problem=STALE_FORM, status=422)
    try:
        async with session.begin_nested():
            team = await patients.remove_member(
                session, patient_id, member_id, expected_version=expected, actor=actor
            )
    except Conflict:
        return await _patient_page(request, session, actor, patient_id, problem=STALE_TEAM, status=409)
    if not actor.is_admin and all(m.user_id != actor.user_id for m in team.members):
        # She took herself off the team: the patient is no longer hers to see.
        return _see_other("/patients")
    return _see_other(f"/patients/{patient_id}#care-team")


# --- Administration -------------------------------------------------------------------------------


def _require_admin(actor: Actor) -> None:
    # Not "forbidden": to a clinician, the administration pages do not exist.
    if not actor.is_admin:
        raise NotFound("There is no such page.")


async def _users_page(
    request: Request,
    session: AsyncSession,
    actor: Actor,
    *,
    page: int = 1,
    form: Mapping[str, str] | None = None,
    errors: Mapping[str, str] | None = None,
    problem: str | None = None,
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
    }
    return render(request, "users.html", context, status_code=status)


@router.get("/admin/users")
async def user_list(request: Request, session: Db, actor: Viewer, page: str = "1") -> Response:
    """The clinic's accounts (administrators)."""
    _require_admin(actor)
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
    _require_admin(actor)
    # The password is never sent back to the browser.
    form = {"username": username, "display_name": display_name, "discipline": discipline, "role": role}
    try:
        body = UserCreate.model_validate({**form, "discipline": discipline or None, "password": password})
    except ValidationError as exc:
        errors = _field_errors(exc, USER_HINTS)
        return await _users_page(request, session, actor, form=form, errors=errors, status=422)
    try:
        async with session.begin_nested():
            user = await accounts.create_user(session, body, actor=actor)
    except Duplicate as exc:
        errors = {exc.field: exc.detail}
        return await _users_page(request, session, actor, form=form, errors=errors, status=409)
    except ValidationFailed as exc:
        errors = {exc.field: exc.detail}
        return await _users_page(request, session, actor, form=form, errors=errors, status=422)
    return _see_other(f"/admin/users#user-{user.id}")


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
    _require_admin(actor)
    page_no = page_number(page)
    expected = _version(version)
    flag = {"true": True, "false": False}.get(active)
    if expected is None or flag is None:
        return await _users_page(request, session, actor, page=page_no, problem=STALE_FORM, status=422)
    try:
        async with session.begin_nested():
            await accounts.update_user(
                session, user_id, UserUpdate(active=flag), expected_version=expected, actor=actor
            )
    except Conflict:
        return await _users_page(request, session, actor, page=page_no, problem=STALE_ACCOUNT, status=409)
    return _see_other(Pager("/admin/users", page_no, USERS_PER_PAGE, 0).url(page_no) + f"#user-{user_id}")


@router.get("/admin/audit")
async def audit_trail(
    request: Request,
    session: Db,
    actor: Viewer,
    user: str = "",
    patient: str = "",
    action: str = "",
    since: str = "",
    until: str = "",
    page: str = "1",
) -> Response:
    """Who read or changed which patient's data, newest first (administrators)."""
    _require_admin(actor)
    errors: dict[str, str] = {}
    user_id, ok = _optional_id(user)
    if not ok:
        errors["user"] = "Choose a clinician from the list."
    patient_id, ok = _optional_id(patient)
    if not ok:
        errors["patient"] = "Enter the patient's number, as shown on her page (digits only)."
    action_value = action.strip()
    if action_value and action_value not in AuditAction.__members__.values():
        errors["action"] = "Choose an action from the list."
    since_day, ok = _optional_date(since)
    if not ok:
        errors["since"] = "Enter a valid date."
    until_day, ok = _optional_date(until)
    if not ok:
        errors["until"] = "Enter a valid date."
    if since_day and until_day and until_day < since_day:
        errors["until"] = "The end date is before the start date."
    filters = {
        "user": user.strip(),
        "patient": patient.strip(),
        "action": action_value,
        "since": since.strip(),
        "until": until.strip(),
    }
    pager = Pager("/admin/audit", page_number(page), AUDIT_PER_PAGE, 0, tuple(filters.items()))
    entries: list[Any] = []
    total = 0
    if not errors:
        entries, total = await audit.list_entries(
            session,
            actor=actor,
            user_id=user_id,
            patient_id=patient_id,
            action=AuditAction(action_value) if action_value else None,
            since=datetime.combine(since_day, time.min, UTC) if since_day else None,
            # "Until" is inclusive: everything before the next day's midnight.
            until=datetime.combine(until_day + timedelta(days=1), time.min, UTC) if until_day else None,
            offset=pager.offset,
            limit=pager.size,
        )
    users, _ = await accounts.list_users(session, actor=actor, limit=DIRECTORY_LIMIT)
    context = {
        "section": "audit",
        "entries": entries,
        "pager": replace(pager, total=total),
        "filters": filters,
        "errors": errors,
        "users": users,
        "users_by_id": {u.id: u for u in users},
        "actions": [a.value for a in AuditAction],
    }
    return render(request, "audit.html", context, status_code=422 if errors else 200)
