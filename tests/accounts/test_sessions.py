"""Signing in and staying signed in: throttling, a fresh session at every login, logout, deactivation,
idle and absolute timeouts, and CSRF on cookie-authenticated API writes."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import event, func, update
from sqlmodel import col, select

from careteam.accounts import sessions as auth_sessions
from careteam.accounts.sessions import Issued
from careteam.accounts.tables import AuthSession, LoginAttempt, User
from careteam.audit.tables import AuditEntry
from careteam.core.vocab import ClinicRole, Discipline
from careteam.db.types import utcnow
from careteam.patients.codes import TeamRole
from careteam.patients.tables import Patient
from careteam.settings import Settings
from tests.factories import PASSWORD, make_patient, make_user

TOKEN = "/api/v1/auth/token"
MAX_FAILURES = 10  # the contract: the 11th attempt within 15 minutes from the same address waits
PER_ADDRESS = 30  # ... and the 31st failure from one address across usernames
WINDOW_SECONDS = 15 * 60


class Clock:
    """Sign-in's clock, stopped: throttling's waits depend on no machine's speed."""

    def __init__(self) -> None:
        self.now = utcnow()

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    stopped = Clock()
    monkeypatch.setattr(auth_sessions, "utcnow", lambda: stopped.now)
    return stopped


@asynccontextmanager
async def from_address(app: Any, host: str) -> AsyncIterator[httpx.AsyncClient]:
    """A client whose requests come from ``host`` (the ASGI client address)."""
    transport = httpx.ASGITransport(app=app, client=(host, 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


@asynccontextmanager
async def browser(app: Any, base_url: str = "http://testserver") -> AsyncIterator[httpx.AsyncClient]:
    """A client with its own cookie jar, as one browser."""
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=base_url) as c:
        yield c


async def form_login(c: httpx.AsyncClient, username: str, password: str = PASSWORD) -> httpx.Response:
    page = await c.get("/login")
    assert page.status_code == 200, page.text
    token = re.search(r'name="csrf_token" value="([^"]*)"', page.text)
    assert token, "the sign-in form has no CSRF field"
    return await c.post(
        "/login", data={"username": username, "password": password, "csrf_token": token.group(1), "next": "/"}
    )


def session_cookie(r: httpx.Response, settings: Settings) -> str:
    assert r.status_code == 303, r.text
    value = r.cookies.get(settings.session_cookie_name)
    assert value, f"no {settings.session_cookie_name} cookie in {r.headers.get_list('set-cookie')}"
    return value


def cookie_header(settings: Settings, secret: str) -> dict[str, str]:
    return {"Cookie": f"{settings.session_cookie_name}={secret}"}


async def cookie_session(db: Any, settings: Settings, username: str) -> Issued:
    async with db() as s:
        issued = await auth_sessions.login(s, username, PASSWORD, kind="cookie", settings=settings)
    assert issued is not None
    return issued


async def sessions_of(db: Any, user_id: int) -> int:
    async with db() as s:
        return int((await s.exec(select(func.count()).where(AuthSession.user_id == user_id))).one())


async def count(db: Any, table: Any) -> int:
    async with db() as s:
        return int((await s.exec(select(func.count()).select_from(table))).one())


# --- Throttling -----------------------------------------------------------------------------------


async def test_eleventh_attempt_from_the_same_address_waits_even_with_the_right_password(
    client: Any, db: Any, clock: Clock
) -> None:
    async with db() as s:
        await make_user(s, "nurse_t")
        await make_user(s, "bystander")
    for attempt in range(MAX_FAILURES):
        r = await client.post(TOKEN, json={"username": "nurse_t", "password": "wrong guess"})
        assert r.status_code == 401, f"attempt {attempt + 1}: {r.status_code}"
    r = await client.post(TOKEN, json={"username": "nurse_t", "password": PASSWORD})
    assert r.status_code == 429
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["status"] == 429
    assert "access_token" not in r.text
    assert 0 < int(r.headers["Retry-After"]) <= WINDOW_SECONDS
    # Throttling is per account: a colleague signs in as usual.
    r = await client.post(TOKEN, json={"username": "bystander", "password": PASSWORD})
    assert r.status_code == 200


async def test_failures_older_than_the_window_no_longer_count(client: Any, db: Any, clock: Clock) -> None:
    async with db() as s:
        await make_user(s, "nurse_w")
    for _ in range(MAX_FAILURES):
        await client.post(TOKEN, json={"username": "nurse_w", "password": "wrong guess"})
    assert (await client.post(TOKEN, json={"username": "nurse_w", "password": PASSWORD})).status_code == 429
    async with db() as s:
        await s.exec(
            update(LoginAttempt)
            .where(col(LoginAttempt.username) == "nurse_w")
            .values(at=utcnow() - timedelta(minutes=16))
        )
    assert (await client.post(TOKEN, json={"username": "nurse_w", "password": PASSWORD})).status_code == 200


async def test_unknown_username_gets_the_same_answers_as_a_wrong_password(
    client: Any, db: Any, clock: Clock
) -> None:
    async with db() as s:
        await make_user(s, "nurse_k")
        await make_user(s, "nurse_off", active=False)
    wrong = await client.post(TOKEN, json={"username": "nurse_k", "password": "wrong guess"})
    unknown = await client.post(TOKEN, json={"username": "no_such_user", "password": "wrong guess"})
    inactive = await client.post(TOKEN, json={"username": "nurse_off", "password": PASSWORD})
    assert wrong.status_code == unknown.status_code == inactive.status_code == 401
    assert wrong.json() == unknown.json() == inactive.json()
    assert wrong.headers["content-type"] == unknown.headers["content-type"]

    for _ in range(MAX_FAILURES - 1):
        await client.post(TOKEN, json={"username": "nurse_k", "password": "wrong guess"})
        await client.post(TOKEN, json={"username": "no_such_user", "password": "wrong guess"})
    known_429 = await client.post(TOKEN, json={"username": "nurse_k", "password": PASSWORD})
    unknown_429 = await client.post(TOKEN, json={"username": "no_such_user", "password": PASSWORD})
    assert known_429.status_code == unknown_429.status_code == 429
    assert known_429.json() == unknown_429.json()
    assert known_429.headers["Retry-After"] == unknown_429.headers["Retry-After"]


async def test_sign_in_page_is_throttled_by_the_same_count(
    app: Any, client: Any, db: Any, clock: Clock
) -> None:
    async with db() as s:
        await make_user(s, "nurse_p")
    for _ in range(MAX_FAILURES):
        await client.post(TOKEN, json={"username": "nurse_p", "password": "wrong guess"})
    async with browser(app) as c:
        r = await form_login(c, "nurse_p")
    assert r.status_code == 429
    assert 0 < int(r.headers["Retry-After"]) <= WINDOW_SECONDS
    assert not any("careteam_session" in h for h in r.headers.get_list("set-cookie"))


async def test_fifty_wrong_passwords_do_not_lock_the_owner_out(
    app: Any, client: Any, db: Any, clock: Clock
) -> None:
    """Done when (#17): 50 wrong passwords for the nurse from one address; the right password from another
    address signs in at once. The attacker's waits grow: 1, 2, 4 seconds..."""
    async with db() as s:
        await make_user(s, "nurse")
    answers = [
        (await client.post(TOKEN, json={"username": "nurse", "password": f"guess {i}"})) for i in range(50)
    ]
    assert [r.status_code for r in answers] == [401] * MAX_FAILURES + [429] * (50 - MAX_FAILURES)
    for r in answers[MAX_FAILURES:]:
        assert r.headers["content-type"].startswith("application/problem+json") and r.json()["status"] == 429
        assert r.headers["Retry-After"] == "1" and "access_token" not in r.text
    async with from_address(app, "10.0.0.2") as owner:
        r = await owner.post(TOKEN, json={"username": "nurse", "password": PASSWORD})
    assert r.status_code == 200, r.text
    # The attacker waits, fails again, and waits longer each time.
    waits = []
    for _ in range(4):
        clock.advance(int(waits[-1]) if waits else 1)
        assert (await client.post(TOKEN, json={"username": "nurse", "password": "again"})).status_code == 401
        refused = await client.post(TOKEN, json={"username": "nurse", "password": "again"})
        assert refused.status_code == 429
        waits.append(refused.headers["Retry-After"])
    assert waits == ["2", "4", "8", "16"]


async def test_spraying_many_usernames_from_one_address_is_slowed(
    app: Any, client: Any, db: Any, clock: Clock
) -> None:
    """Done when (#17): 40 usernames x 3 tries from one address are refused beyond the per-address limit,
    with 429 problem+json and Retry-After on the API and a friendly message on the form; another address
    is not slowed; each refusal is audited with its address, never a password."""
    names = [f"sprayed{i}" for i in range(40)]
    async with db() as s:
        for name in names:
            await make_user(s, name)
    statuses = []
    for attempt in range(3):
        for name in names:
            r = await client.post(TOKEN, json={"username": name, "password": f"Spring2026 {attempt}"})
            statuses.append(r.status_code)
            if r.status_code == 429:
                assert r.headers["content-type"].startswith("application/problem+json")
                assert 0 < int(r.headers["Retry-After"]) <= WINDOW_SECONDS
    assert statuses == [401] * PER_ADDRESS + [429] * (120 - PER_ADDRESS)
    async with browser(app) as c:  # the same address, through the sign-in page
        page = await form_login(c, "sprayed0", "one more")
    assert page.status_code == 429 and page.headers["Retry-After"]
    assert "Too many failed sign-ins from this computer. Wait 1 second and" in page.text
    async with from_address(app, "10.0.0.3") as colleague:
        assert (
            await colleague.post(TOKEN, json={"username": "sprayed0", "password": PASSWORD})
        ).status_code == 200
    async with db() as s:
        rows = list(await s.exec(select(AuditEntry).where(AuditEntry.action == "login")))
    outcomes = [(r.outcome, r.client_ip) for r in rows]
    assert outcomes.count(("failure", "127.0.0.1")) == PER_ADDRESS
    assert outcomes.count(("throttled", "127.0.0.1")) == 120 - PER_ADDRESS + 1
    assert outcomes.count(("success", "10.0.0.3")) == 1
    assert not any("Spring2026" in str(r.model_dump()) for r in rows)


# --- A new session at every login ---------------------------------------------------------------


async def test_every_form_login_issues_a_new_session(app: Any, db: Any, settings: Settings) -> None:
    async with db() as s:
        user = await make_user(s, "nurse_f")
    async with browser(app) as c:
        # A session id planted before sign-in (fixation) is replaced, not adopted.
        c.cookies.set(settings.session_cookie_name, "planted-by-an-attacker-0123456789abcdef")
        first = session_cookie(await form_login(c, "nurse_f"), settings)
    async with browser(app) as c:
        second = session_cookie(await form_login(c, "nurse_f"), settings)
    assert len({first, second, "planted-by-an-attacker-0123456789abcdef"}) == 3
    async with browser(app) as c:
        for secret in (first, second):
            r = await c.get("/api/v1/me", headers=cookie_header(settings, secret))
            assert r.status_code == 200 and r.json()["username"] == "nurse_f"
        r = await c.get(
            "/api/v1/me", headers=cookie_header(settings, "planted-by-an-attacker-0123456789abcdef")
        )
        assert r.status_code == 401
    async with db() as s:
        ids = set((await s.exec(select(AuthSession.id).where(AuthSession.user_id == user.id))).all())
    assert len(ids) == 2
    assert not ids & {first, second}, "session secrets must not be stored in clear"


async def test_every_token_request_issues_a_new_token(client: Any, db: Any) -> None:
    async with db() as s:
        await make_user(s, "nurse_b")
    tokens = [
        (await client.post(TOKEN, json={"username": "nurse_b", "password": PASSWORD})).json()["access_token"]
        for _ in range(2)
    ]
    assert tokens[0] != tokens[1]
    for token in tokens:
        assert (
            await client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
        ).status_code == 200


async def test_production_session_cookie_is_host_only_secure_httponly(settings: Settings) -> None:
    from careteam.app import create_app

    prod = Settings(**{**settings.model_dump(), "production": True})
    app = create_app(prod)
    async with app.router.lifespan_context(app):
        async with app.state.sessions() as s:
            await make_user(s, "nurse_h")
            await s.commit()
        async with browser(app, "https://testserver") as c:
            r = await form_login(c, "nurse_h")
    assert r.status_code == 303, r.text
    [set_cookie] = [h for h in r.headers.get_list("set-cookie") if h.startswith("__Host-careteam_session=")]
    attributes = {part.strip().split("=")[0].lower() for part in set_cookie.split(";")[1:]}
    assert {"secure", "httponly", "path"} <= attributes
    assert "domain" not in attributes
    assert "path=/;" in set_cookie.lower().replace(" ", "") + ";"


# --- Ending sessions ------------------------------------------------------------------------------


async def test_cookie_replayed_after_logout_is_refused(app: Any, db: Any, settings: Settings) -> None:
    async with db() as s:
        user = await make_user(s, "nurse_l")
    async with browser(app) as c:
        secret = session_cookie(await form_login(c, "nurse_l"), settings)
    async with browser(app) as c:
        headers = cookie_header(settings, secret)
        assert (await c.get("/api/v1/me", headers=headers)).status_code == 200
        page = await c.get("/patients", headers=headers)
        token = re.search(r'name="csrf-token" content="([^"]+)"', page.text)
        assert token, "signed-in pages carry the CSRF token"
        r = await c.post("/logout", data={"csrf_token": token.group(1)}, headers=headers)
        assert r.status_code == 303
        r = await c.get("/api/v1/me", headers=headers)
        assert r.status_code == 401
        assert r.headers["content-type"].startswith("application/problem+json")
        r = await c.get("/patients", headers=headers)
        assert r.status_code == 303 and r.headers["location"].startswith("/login")
    assert await sessions_of(db, user.id or 0) == 0


async def test_deactivated_user_is_signed_out_everywhere(
    client: Any, db: Any, login: Any, settings: Settings
) -> None:
    async with db() as s:
        await make_user(s, "admin_d", discipline=Discipline.ipm_lead, role=ClinicRole.admin)
        nurse = await make_user(s, "nurse_d")
    bearer = await login("nurse_d")
    issued = await cookie_session(db, settings, "nurse_d")
    assert (await client.get("/api/v1/me", headers=bearer)).status_code == 200
    assert await sessions_of(db, nurse.id or 0) == 2

    admin = await login("admin_d")
    r = await client.get(f"/api/v1/users/{nurse.id}", headers=admin)
    r = await client.patch(
        f"/api/v1/users/{nurse.id}", json={"active": False}, headers={**admin, "If-Match": r.headers["ETag"]}
    )
    assert r.status_code == 200, r.text
    assert r.json()["active"] is False

    r = await client.get("/api/v1/me", headers=bearer)
    assert r.status_code == 401
    assert r.headers["content-type"].startswith("application/problem+json")
    assert (await client.get("/api/v1/me", headers=cookie_header(settings, issued.secret))).status_code == 401
    assert await sessions_of(db, nurse.id or 0) == 0
    r = await client.post(TOKEN, json={"username": "nurse_d", "password": PASSWORD})
    assert r.status_code == 401


async def test_password_change_ends_existing_sessions(client: Any, db: Any, login: Any) -> None:
    async with db() as s:
        await make_user(s, "admin_pw", discipline=Discipline.ipm_lead, role=ClinicRole.admin)
        nurse = await make_user(s, "nurse_pw")
    old = await login("nurse_pw")
    admin = await login("admin_pw")
    etag = (await client.get(f"/api/v1/users/{nurse.id}", headers=admin)).headers["ETag"]
    r = await client.patch(
        f"/api/v1/users/{nurse.id}", json={"password": "a brand new one"}, headers={**admin, "If-Match": etag}
    )
    assert r.status_code == 200, r.text
    assert (await client.get("/api/v1/me", headers=old)).status_code == 401
    assert (await client.post(TOKEN, json={"username": "nurse_pw", "password": PASSWORD})).status_code == 401
    await login("nurse_pw", "a brand new one")


# --- Timeouts -------------------------------------------------------------------------------------


async def _age(db: Any, session_id: str, **values: Any) -> None:
    async with db() as s:
        await s.exec(update(AuthSession).where(col(AuthSession.id) == session_id).values(**values))


async def test_idle_cookie_session_is_refused_after_30_minutes(
    client: Any, db: Any, settings: Settings
) -> None:
    async with db() as s:
        await make_user(s, "nurse_i")
    issued = await cookie_session(db, settings, "nurse_i")
    await _age(db, issued.record.id, last_seen_at=utcnow() - timedelta(minutes=31))
    r = await client.get("/api/v1/me", headers=cookie_header(settings, issued.secret))
    assert r.status_code == 401


async def test_activity_keeps_a_cookie_session_alive(client: Any, db: Any, settings: Settings) -> None:
    async with db() as s:
        await make_user(s, "nurse_a")
    issued = await cookie_session(db, settings, "nurse_a")
    await _age(db, issued.record.id, last_seen_at=utcnow() - timedelta(minutes=29))
    assert (await client.get("/api/v1/me", headers=cookie_header(settings, issued.secret))).status_code == 200
    async with db() as s:
        record = await s.get(AuthSession, issued.record.id)
    assert record is not None
    assert utcnow() - record.last_seen_at < timedelta(minutes=1), "a request must count as activity"


async def _last_seen(db: Any, session_id: str) -> Any:
    async with db() as s:
        record = await s.get(AuthSession, session_id)
    assert record is not None
    return record.last_seen_at


async def test_last_seen_is_written_at_most_once_a_minute(
    app: Any, client: Any, db: Any, settings: Settings
) -> None:
    """Idle tracking without a write per request; the idle timeout still holds, at most a minute early."""
    async with db() as s:
        await make_user(s, "nurse_w")
    issued = await cookie_session(db, settings, "nurse_w")
    headers = cookie_header(settings, issued.secret)
    recent = utcnow() - timedelta(seconds=30)  # half a minute of slack for a slow machine
    await _age(db, issued.record.id, last_seen_at=recent)
    writes: list[str] = []

    def spy(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if statement.startswith(("UPDATE auth_session", "DELETE FROM auth_session")):
            writes.append(statement)

    event.listen(app.state.engine.sync_engine, "before_cursor_execute", spy)
    try:
        for _ in range(3):
            assert (await client.get("/api/v1/me", headers=headers)).status_code == 200
        assert writes == [] and await _last_seen(db, issued.record.id) == recent
        await _age(db, issued.record.id, last_seen_at=utcnow() - timedelta(seconds=61))
        writes.clear()
        before = utcnow()
        assert (await client.get("/api/v1/me", headers=headers)).status_code == 200
        assert len(writes) == 1
        assert await _last_seen(db, issued.record.id) >= before - timedelta(seconds=1)
    finally:
        event.remove(app.state.engine.sync_engine, "before_cursor_execute", spy)
    # Not written for up to a minute of activity, so the idle timeout counts from at most a minute before
    # the last request: a session idle for the timeout is refused, never later.
    idle = timedelta(minutes=settings.session_idle_minutes)
    await _age(db, issued.record.id, last_seen_at=utcnow() - idle - timedelta(seconds=1))
    assert (await client.get("/api/v1/me", headers=headers)).status_code == 401


async def test_cookie_session_is_refused_after_its_absolute_lifetime(
    client: Any, db: Any, settings: Settings
) -> None:
    async with db() as s:
        await make_user(s, "nurse_x")
    issued = await cookie_session(db, settings, "nurse_x")
    # Busy right up to the end: the absolute limit holds however active the session is.
    await _age(db, issued.record.id, last_seen_at=utcnow(), expires_at=utcnow() - timedelta(seconds=1))
    assert (await client.get("/api/v1/me", headers=cookie_header(settings, issued.secret))).status_code == 401


async def test_bearer_token_is_refused_after_it_expires(client: Any, db: Any, login: Any) -> None:
    async with db() as s:
        user = await make_user(s, "nurse_e")
    headers = await login("nurse_e")
    assert (await client.get("/api/v1/me", headers=headers)).status_code == 200
    async with db() as s:
        await s.exec(
            update(AuthSession)
            .where(col(AuthSession.user_id) == user.id)
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
    assert (await client.get("/api/v1/me", headers=headers)).status_code == 401


# --- CSRF on cookie-authenticated API writes -----------------------------------------------------


async def _lead_with_cookie(db: Any, settings: Settings) -> tuple[Issued, int]:
    async with db() as s:
        lead = await make_user(s, "lead_c", discipline=Discipline.ipm_lead)
        patient = await make_patient(s, members=[(lead, TeamRole.lead)], name="Ellen Marsh")
    return await cookie_session(db, settings, "lead_c"), patient.id or 0


async def test_cookie_api_write_without_csrf_token_is_refused(
    client: Any, db: Any, settings: Settings
) -> None:
    issued, patient_id = await _lead_with_cookie(db, settings)
    other = await cookie_session(db, settings, "lead_c")  # a second browser of the same user
    cookie = cookie_header(settings, issued.secret)
    body = {"mrn": "CSRF-1", "name": "Robert Chen", "birth_date": "1975-09-03"}
    before = await count(db, Patient)
    for extra in ({}, {"X-CSRF-Token": "forged"}, {"X-CSRF-Token": other.record.csrf_token}):
        r = await client.post("/api/v1/patients", json=body, headers={**cookie, **extra})
        assert r.status_code == 403, (extra, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")
        r = await client.patch(
            f"/api/v1/patients/{patient_id}",
            json={"name": "Renamed"},
            headers={**cookie, **extra, "If-Match": 'W/"1"'},
        )
        assert r.status_code == 403, (extra, r.text)
    assert await count(db, Patient) == before
    async with db() as s:
        patient = await s.get(Patient, patient_id)
    assert patient is not None and (patient.name, patient.version) == ("Ellen Marsh", 1)


async def test_cookie_api_write_with_the_pages_csrf_token_works(
    client: Any, db: Any, settings: Settings
) -> None:
    issued, patient_id = await _lead_with_cookie(db, settings)
    cookie = cookie_header(settings, issued.secret)
    # Reads need no token.
    assert (await client.get(f"/api/v1/patients/{patient_id}", headers=cookie)).status_code == 200
    # Our pages hand their scripts the session's token.
    page = await client.get("/patients", headers=cookie)
    token = re.search(r'name="csrf-token" content="([^"]+)"', page.text)
    assert token and token.group(1) == issued.record.csrf_token
    csrf = {"X-CSRF-Token": token.group(1)}
    body = {"mrn": "CSRF-2", "name": "Robert Chen", "birth_date": "1975-09-03"}
    r = await client.post("/api/v1/patients", json=body, headers={**cookie, **csrf})
    assert r.status_code == 201, r.text
    r = await client.patch(
        f"/api/v1/patients/{patient_id}",
        json={"name": "Ellen M. Marsh"},
        headers={**cookie, **csrf, "If-Match": 'W/"1"'},
    )
    assert r.status_code == 200, r.text
    async with db() as s:
        names = set((await s.exec(select(Patient.name))).all())
    assert names == {"Ellen M. Marsh", "Robert Chen"}


async def test_bearer_writes_need_no_csrf_token(client: Any, db: Any, login: Any) -> None:
    async with db() as s:
        await make_user(s, "lead_bw", discipline=Discipline.ipm_lead)
    r = await client.post(
        "/api/v1/patients",
        json={"mrn": "BW-1", "name": "Maria Alvarez", "birth_date": "1982-01-27"},
        headers=await login("lead_bw"),
    )
    assert r.status_code == 201, r.text
    async with db() as s:
        assert (await s.exec(select(User.id).where(User.username == "lead_bw"))).one()


async def test_expired_session_is_no_longer_live_for_open_websockets(db: Any, settings: Settings) -> None:
    """The realtime hub re-checks open sockets with live_session_ids: an expired session must drop out."""
    async with db() as s:
        await make_user(s, "nurse_ws")
    expiring = await cookie_session(db, settings, "nurse_ws")
    current = await cookie_session(db, settings, "nurse_ws")
    ids = {expiring.record.id, current.record.id}
    async with db() as s:
        assert await auth_sessions.live_session_ids(s, ids, settings=settings) == ids
    await _age(db, expiring.record.id, expires_at=utcnow() - timedelta(seconds=1))
    async with db() as s:
        assert await auth_sessions.live_session_ids(s, ids, settings=settings) == {current.record.id}
    # Idle for longer than the idle timeout: an unattended screen is signed out, its board stream too.
    await _age(
        db, current.record.id, last_seen_at=utcnow() - timedelta(minutes=settings.session_idle_minutes + 1)
    )
    async with db() as s:
        assert await auth_sessions.live_session_ids(s, ids, settings=settings) == set()
