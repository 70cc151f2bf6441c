"""The HTML pages, driven as a browser would: sign in, forms with their CSRF token, what each user sees."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func
from sqlmodel import SQLModel, select

from careteam.accounts import service as accounts
from careteam.accounts.schemas import UserCreate
from careteam.accounts.tables import AuthSession, LoginAttempt, User
from careteam.app import create_app
from careteam.core.actor import Actor
from careteam.core.vocab import ClinicRole, Discipline
from careteam.db.engine import unit_of_work
from careteam.patients import service as patients
from careteam.patients.codes import TeamRole
from careteam.patients.schemas import MemberCreate, PatientCreate
from careteam.patients.tables import Patient
from careteam.settings import Settings

BAD_LOGIN = "Unknown username or wrong password."


# --- Fixtures and helpers -------------------------------------------------------------------------


# The app, its database (SQLite, and PostgreSQL when configured) and ``settings`` come from tests/conftest.py.


@asynccontextmanager
async def browser(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


async def make_user(
    app: FastAPI, username: str, discipline: Discipline, role: ClinicRole = ClinicRole.clinician
) -> Actor:
    async with unit_of_work(app.state.sessions) as session:
        user = await accounts.create_user(
            session,
            UserCreate(
                username=username,
                display_name=username.replace(".", " ").title(),
                discipline=discipline,
                role=role,
                password=f"pw-{username}",
            ),
            actor=None,
            seeded=True,  # pw-<username> is built from her name: a test's account, not a choice
        )
    return Actor(
        user_id=user.id or 0,
        username=user.username,
        display_name=user.display_name,
        discipline=discipline,
        role=role,
    )


async def make_patient(app: FastAPI, lead: Actor, mrn: str, name: str, *members: Actor) -> int:
    async with unit_of_work(app.state.sessions) as session:
        patient = await patients.create_patient(
            session, PatientCreate(mrn=mrn, name=name, birth_date=date(1968, 4, 12)), actor=lead
        )
        for member in members:
            await patients.add_member(
                session,
                patient.id or 0,
                MemberCreate(user_id=member.user_id, role=TeamRole.member),
                expected_version=None,
                actor=lead,
            )
    return patient.id or 0


async def count(app: FastAPI, table: type[SQLModel]) -> int:
    async with unit_of_work(app.state.sessions) as session:
        return int((await session.exec(select(func.count()).select_from(table))).one())


def hidden(html: str, name: str) -> str:
    match = re.search(rf'name="{name}" value="([^"]*)"', html)
    assert match, f"no hidden field {name}"
    return match.group(1)


def csrf(html: str) -> str:
    match = re.search(r'<meta name="csrf-token" content="([^"]+)"', html)
    assert match, "no csrf-token meta tag"
    return match.group(1)


async def post_login(
    client: httpx.AsyncClient, username: str, password: str, next_path: str = ""
) -> httpx.Response:
    page = await client.get("/login")
    form = {
        "username": username,
        "password": password,
        "next": next_path,
        "csrf_token": hidden(page.text, "csrf_token"),
    }
    return await client.post("/login", data=form)


@asynccontextmanager
async def signed_in(app: FastAPI, who: Actor) -> AsyncIterator[httpx.AsyncClient]:
    async with browser(app) as client:
        response = await post_login(client, who.username, f"pw-{who.username}")
        assert response.status_code == 303
        yield client


async def token_on(client: httpx.AsyncClient, path: str) -> str:
    page = await client.get(path)
    assert page.status_code == 200
    return csrf(page.text)


# --- Sign-in --------------------------------------------------------------------------------------


async def test_login_page_renders_under_the_strict_csp(app: FastAPI) -> None:
    async with browser(app) as client:
        page = await client.get("/login")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert '<label for="login-username">Username</label>' in page.text
    assert 'name="password" type="password"' in page.text
    set_cookie = page.headers["set-cookie"].lower()
    assert "careteam_login_csrf=" in set_cookie
    assert "httponly" in set_cookie and "samesite=strict" in set_cookie
    # Nothing the CSP would block: no inline styles, no inline script bodies.
    assert "style=" not in page.text
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", page.text)


async def test_wrong_password_and_unknown_user_get_the_same_401_and_the_attempts_count(app: FastAPI) -> None:
    await make_user(app, "nina.nurse", Discipline.nurse)
    async with browser(app) as client:
        wrong = await post_login(client, "nina.nurse", "not-her-password")
        unknown = await post_login(client, "nobody", "whatever")
    for response in (wrong, unknown):
        assert response.status_code == 401
        assert BAD_LOGIN in response.text
        assert "careteam_session" not in response.headers.get("set-cookie", "")
    # Returned, not raised: both failed attempts were committed, so throttling can count them.
    assert await count(app, LoginAttempt) == 2
    assert await count(app, AuthSession) == 0


async def test_too_many_failures_answer_429(settings: Settings) -> None:
    app = create_app(settings.model_copy(update={"login_max_failures": 2}))
    async with app.router.lifespan_context(app):
        await make_user(app, "nina.nurse", Discipline.nurse)
        async with browser(app) as client:
            for _ in range(2):
                assert (await post_login(client, "nina.nurse", "wrong")).status_code == 401
            throttled = await post_login(client, "nina.nurse", "pw-nina.nurse")
    assert throttled.status_code == 429
    assert "Too many failed sign-ins" in throttled.text
    assert throttled.headers["retry-after"]


@pytest.mark.parametrize(
    ("next_path", "expected"),
    [
        ("/patients/7?tab=team", "/patients/7?tab=team"),
        ("", "/patients"),
        ("//evil.example/x", "/patients"),
        ("https://evil.example/", "/patients"),
        ("/\\evil.example", "/patients"),
    ],
)
async def test_login_sets_the_session_cookie_and_redirects_only_to_local_paths(
    app: FastAPI, next_path: str, expected: str
) -> None:
    await make_user(app, "nina.nurse", Discipline.nurse)
    async with browser(app) as client:
        response = await post_login(client, "nina.nurse", "pw-nina.nurse", next_path)
        assert response.status_code == 303
        assert response.headers["location"] == expected
        cookies = response.headers.get_list("set-cookie")
        attributes = next(c for c in cookies if c.startswith("careteam_session=")).lower()
        assert "httponly" in attributes and "samesite=lax" in attributes and "path=/" in attributes
        assert "max-age=43200" in attributes and "secure" not in attributes
        assert (await client.get("/patients")).status_code == 200


async def test_login_without_the_matching_csrf_cookie_is_403_and_opens_no_session(app: FastAPI) -> None:
    await make_user(app, "nina.nurse", Discipline.nurse)
    async with browser(app) as client:
        await client.get("/login")
        response = await client.post(
            "/login", data={"username": "nina.nurse", "password": "pw-nina.nurse", "csrf_token": "forged"}
        )
    assert response.status_code == 403
    assert '<form method="post" action="/login"' in response.text
    assert await count(app, AuthSession) == 0


async def test_logout_ends_the_session(app: FastAPI) -> None:
    nurse = await make_user(app, "nina.nurse", Discipline.nurse)
    async with signed_in(app, nurse) as client:
        token = await token_on(client, "/patients")
        response = await client.post("/logout", data={"csrf_token": token})
        assert response.status_code == 303 and response.headers["location"] == "/login"
        assert (await client.get("/patients")).status_code == 303
    assert await count(app, AuthSession) == 0


# --- Signed out, and CSRF -------------------------------------------------------------------------


async def test_signed_out_get_redirects_to_login_and_post_is_401(app: FastAPI) -> None:
    async with browser(app) as client:
        page = await client.get("/patients/3", params={"tab": "team"})
        home = await client.get("/")
        post = await client.post("/patients", data={"mrn": "A1", "name": "X", "birth_date": "1970-01-01"})
    assert page.status_code == 303
    assert page.headers["location"] == "/login?next=/patients/3%3Ftab%3Dteam"
    assert home.status_code == 303 and home.headers["location"] == "/patients"
    assert post.status_code == 401 and "text/html" in post.headers["content-type"]
    assert await count(app, Patient) == 0


@pytest.mark.parametrize("token", [None, "", "wrong-token"])
async def test_a_form_without_the_sessions_csrf_token_is_403_and_stores_nothing(
    app: FastAPI, token: str | None
) -> None:
    lead = await make_user(app, "lee.lead", Discipline.ipm_lead)
    form = {"mrn": "MRN-1", "name": "Alex Doe", "birth_date": "1970-01-01"}
    if token is not None:
        form["csrf_token"] = token
    async with signed_in(app, lead) as client:
        response = await client.post("/patients", data=form)
    assert response.status_code == 403
    assert "text/html" in response.headers["content-type"]
    assert "This form could not be accepted" in response.text
    assert await count(app, Patient) == 0


# --- Patients -------------------------------------------------------------------------------------


async def test_a_nurse_sees_only_her_patients(app: FastAPI) -> None:
    lead = await make_user(app, "lee.lead", Discipline.ipm_lead)
    nurse = await make_user(app, "nina.nurse", Discipline.nurse)
    await make_patient(app, lead, "MRN-1", "Maria Ortega", nurse)
    await make_patient(app, lead, "MRN-2", "John Baker")
    async with signed_in(app, nurse) as client:
        page = await client.get("/patients")
        found = await client.get("/patients", params={"q": "ortega"})
        none = await client.get("/patients", params={"q": "baker"})
    assert page.status_code == 200
    assert "Maria Ortega" in page.text and "John Baker" not in page.text
    assert "Register a patient" not in page.text  # nurses do not register patients
    assert "Maria Ortega" in found.text
    assert "No patient matches" in none.text and "John Baker" not in none.text


async def test_the_patient_list_pages(app: FastAPI) -> None:
    lead = await make_user(app, "lee.lead", Discipline.ipm_lead)
    for i in range(27):
        await make_patient(app, lead, f"MRN-{i:02}", f"Patient {i:02}")
    async with signed_in(app, lead) as client:
        first = await client.get("/patients")
        second = await client.get("/patients", params={"page": "2"})
    assert "Showing 1\u201325 of 27 patients" in first.text and 'href="/patients?page=2"' in first.text
    assert "Patient 26" in second.text and "Patient 00" not in second.text


async def test_another_teams_patient_is_a_friendly_404_page(app: FastAPI) -> None:
    lead = await make_user(app, "lee.lead", Discipline.ipm_lead)
    nurse = await make_user(app, "nina.nurse", Discipline.nurse)
    other = await make_patient(app, lead, "MRN-2", "John Baker")
    async with signed_in(app, nurse) as client:
        for path in (f"/patients/{other}", "/patients/99999999999", "/patients/abc"):
            response = await client.get(path)
            assert response.status_code == 404, path
            assert "text/html" in response.headers["content-type"]
            assert "Not found" in response.text and "John Baker" not in response.text
            assert 'href="/patients"' in response.text


async def test_a_lead_registers_a_patient_and_becomes_her_teams_lead(app: FastAPI) -> None:
    lead = await make_user(app, "lee.lead", Discipline.ipm_lead)
    async with signed_in(app, lead) as client:
        token = await token_on(client, "/patients")
        response = await client.post(
            "/patients",
            data={"csrf_token": token, "mrn": "MRN-9", "name": "Rosa Diaz", "birth_date": "1975-02-03"},
        )
        assert response.status_code == 303
        page = await client.get(response.headers["location"])
    assert "<h1>Rosa Diaz</h1>" in page.text and "1975-02-03" in page.text
    assert "Lee Lead" in page.text and "IPM lead" in page.text and "Lead</span>" in page.text


@pytest.mark.parametrize(
    ("form", "status", "message"),
    [
        ({"mrn": "no spaces!", "name": "Rosa Diaz", "birth_date": "1975-02-03"}, 422, "Enter the MRN"),
        ({"mrn": "MRN-9", "name": "  ", "birth_date": "1975-02-03"}, 422, "the patient&#39;s full name"),
        ({"mrn": "MRN-9", "name": "Rosa Diaz", "birth_date": "1975-02-31"}, 422, "Enter the birth date"),
        ({"mrn": "MRN-1", "name": "Rosa Diaz", "birth_date": "1975-02-03"}, 409, "this MRN exists."),
    ],
)
async def test_bad_registrations_show_the_message_next_to_the_field_and_store_nothing(
    app: FastAPI, form: dict[str, str], status: int, message: str
) -> None:
    lead = await make_user(app, "lee.lead", Discipline.ipm_lead)
    await make_patient(app, lead, "MRN-1", "Maria Ortega")
    async with signed_in(app, lead) as client:
        token = await token_on(client, "/patients")
        response = await client.post("/patients", data={"csrf_token": token, **form})
    assert response.status_code == status
    assert 'class="field__error" id="register-' in response.text and message in response.text
    assert 'aria-invalid="true"' in response.text
    assert f'value="{form["mrn"]}"' in response.text  # what she typed is kept
    assert await count(app, Patient) == 1


async def test_a_script_in_a_patient_name_is_shown_as_text(app: FastAPI) -> None:
    lead = await make_user(app, "lee.lead", Discipline.ipm_lead)
    evil = "<script>alert(1)</script>"
    async with signed_in(app, lead) as client:
        token = await token_on(client, "/patients")
        created = await client.post(
            "/patients", data={"csrf_token": token, "mrn": "MRN-7", "name": evil, "birth_date": "1980-01-01"}
        )
        page = await client.get(created.headers["location"])
        listing = await client.get("/patients")
    for html in (page.text, listing.text):
        assert evil not in html
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


async def test_a_lead_adds_and_removes_a_member_and_a_stale_form_changes_nothing(app: FastAPI) -> None:
    lead = await make_user(app, "lee.lead", Discipline.ipm_lead)
    nurse = await make_user(app, "nina.nurse", Discipline.nurse)
    patient_id = await make_patient(app, lead, "MRN-1", "Maria Ortega")
    path = f"/patients/{patient_id}"
    async with signed_in(app, lead) as client, signed_in(app, nurse) as nurse_client:
        page = await client.get(path)
        token, version = csrf(page.text), hidden(page.text, "version")
        assert f'name="user_id" value="{nurse.user_id}"' in page.text  # offered in the add form
        assert (await nurse_client.get(path)).status_code == 404

        added = await client.post(
            f"{path}/members",
            data={"csrf_token": token, "version": version, "user_id": str(nurse.user_id), "role": "member"},
        )
        assert added.status_code == 303
        page = await client.get(path)
        assert "Nina Nurse" in page.text and "<td>Nursing</td>" in page.text
        assert (await nurse_client.get(path)).status_code == 200  # she sees her new patient

        member_id = re.search(r'/members/(\d+)/remove"[^>]*\n?[^>]*Nina Nurse', page.text)
        assert member_id
        remove = f"{path}/members/{member_id.group(1)}/remove"
        stale = await client.post(remove, data={"csrf_token": token, "version": version})
        assert stale.status_code == 412  # a stale version: 412, as the JSON API answers it
        assert "Someone changed this care team first" in stale.text
        assert "Nina Nurse" in stale.text  # the current team, nothing overwritten

        current = hidden(page.text, "version")
        removed = await client.post(remove, data={"csrf_token": token, "version": current})
        assert removed.status_code == 303
        assert (await nurse_client.get(path)).status_code == 404


async def test_only_team_managers_see_the_team_forms_and_others_cannot_post_them(app: FastAPI) -> None:
    lead = await make_user(app, "lee.lead", Discipline.ipm_lead)
    nurse = await make_user(app, "nina.nurse", Discipline.nurse)
    psych = await make_user(app, "pat.psych", Discipline.psychologist)
    patient_id = await make_patient(app, lead, "MRN-1", "Maria Ortega", nurse)
    async with signed_in(app, nurse) as client:
        page = await client.get(f"/patients/{patient_id}")
        assert "Add clinicians" not in page.text and "/remove" not in page.text
        response = await client.post(
            f"/patients/{patient_id}/members",
            data={"csrf_token": csrf(page.text), "version": "2", "user_id": str(psych.user_id)},
        )
    assert response.status_code == 403 and "text/html" in response.headers["content-type"]


async def test_the_lead_opens_a_care_plan_from_the_patient_page(app: FastAPI) -> None:
    lead = await make_user(app, "lee.lead", Discipline.ipm_lead)
    nurse = await make_user(app, "nina.nurse", Discipline.nurse)
    patient_id = await make_patient(app, lead, "MRN-1", "Maria Ortega", nurse)
    async with signed_in(app, nurse) as client:
        page = await client.get(f"/patients/{patient_id}")
    # A nurse works the tasks; she neither sees an empty plans section nor the form to open a plan.
    assert "Care plans" not in page.text and f"/patients/{patient_id}/plans" not in page.text
    async with signed_in(app, lead) as client:
        page = await client.get(f"/patients/{patient_id}")
        assert "No care plan yet" in page.text
        empty = await client.post(
            f"/patients/{patient_id}/plans", data={"csrf_token": csrf(page.text), "title": " "}
        )
        assert empty.status_code == 422 and "Give the plan a title" in empty.text
        created = await client.post(
            f"/patients/{patient_id}/plans",
            data={"csrf_token": csrf(page.text), "title": "CRPS right hand: graded motor imagery"},
        )
        assert created.status_code == 303 and created.headers["location"].startswith("/plans/")
        page = await client.get(f"/patients/{patient_id}")
    assert f'href="{created.headers["location"]}"' in page.text
    assert "CRPS right hand: graded motor imagery" in page.text


# --- Administration -------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/admin/users", "/admin/audit"])
async def test_admin_pages_do_not_exist_for_a_clinician(app: FastAPI, path: str) -> None:
    nurse = await make_user(app, "nina.nurse", Discipline.nurse)
    async with signed_in(app, nurse) as client:
        page = await client.get(path)
        assert page.status_code == 404 and "text/html" in page.headers["content-type"]
        menu = await client.get("/patients")
    assert 'href="/admin/' not in menu.text


async def test_an_admin_opens_an_account_and_deactivating_it_signs_it_out(app: FastAPI) -> None:
    admin = await make_user(app, "ada.admin", Discipline.physician, ClinicRole.admin)
    async with signed_in(app, admin) as client:
        token = await token_on(client, "/admin/users")
        bad = await client.post(
            "/admin/users",
            data={
                "csrf_token": token,
                "username": "Bad Name",
                "display_name": "Paul Therapist",
                "discipline": "physical_therapist",
                "role": "clinician",
                "password": "pw-paul.pt",
            },
        )
        assert bad.status_code == 422 and "lowercase letters" in bad.text and "pw-paul.pt" not in bad.text
        created = await client.post(
            "/admin/users",
            data={
                "csrf_token": token,
                "username": "paul.pt",
                "display_name": "Paul Therapist",
                "discipline": "physical_therapist",
                "role": "clinician",
                "password": "paul's own passphrase",  # pw-paul.pt: built from his name, refused,
            },
        )
        assert created.status_code == 303
        duplicate = await client.post(
            "/admin/users",
            data={
                "csrf_token": token,
                "username": "paul.pt",
                "display_name": "Paul Again",
                "discipline": "nurse",
                "role": "clinician",
                "password": "pw-paul.pt",
            },
        )
        assert duplicate.status_code == 409 and "That username is taken." in duplicate.text

        paul = Actor(
            user_id=0,
            username="paul.pt",
            display_name="",
            discipline=Discipline.physical_therapist,
            role=ClinicRole.clinician,
        )
        async with browser(app) as paul_client:
            assert (await post_login(paul_client, paul.username, "paul's own passphrase")).status_code == 303
            page = await client.get("/admin/users")
            assert "Paul Therapist" in page.text and "Physical therapy" in page.text
            paul_row = r'<tr id="user-(\d+)">\s*<th scope="row">Paul Therapist<.*?</tr>'
            row = re.search(paul_row, page.text, re.S)
            assert row, "Paul's row"
            user_id, version = row.group(1), hidden(row.group(0), "version")
            stale = await client.post(
                f"/admin/users/{user_id}/active",
                data={"csrf_token": token, "active": "false", "version": "99"},
            )
            assert stale.status_code == 412 and "Someone changed this account first" in stale.text
            off = await client.post(
                f"/admin/users/{user_id}/active",
                data={"csrf_token": token, "active": "false", "version": version},
            )
            assert off.status_code == 303
            assert (await paul_client.get("/patients")).status_code == 303  # signed out at once
    async with unit_of_work(app.state.sessions) as session:
        user = (await session.exec(select(User).where(User.username == "paul.pt"))).one()
    assert user.active is False


async def test_the_audit_trail_filters_and_refuses_bad_dates(app: FastAPI) -> None:
    admin = await make_user(app, "ada.admin", Discipline.physician, ClinicRole.admin)
    lead = await make_user(app, "lee.lead", Discipline.ipm_lead)
    patient_id = await make_patient(app, lead, "MRN-1", "Maria Ortega")
    async with signed_in(app, admin) as client:
        everything = await client.get("/admin/audit")
        for_patient = await client.get(
            "/admin/audit", params={"patient": str(patient_id), "action": "create"}
        )
        nothing = await client.get("/admin/audit", params={"since": "2001-01-01", "until": "2001-01-02"})
        bad = await client.get("/admin/audit", params={"since": "yesterday", "patient": "x"})
        # Values that parse as a date or as digits but have no meaning here are refused, not a server error.
        edge = await client.get("/admin/audit", params={"until": "9999-12-31", "user": "\u00b2"})
    assert everything.status_code == 200
    assert "<td>Login</td>" in everything.text and "Lee Lead" in everything.text
    assert for_patient.status_code == 200
    assert f'href="/patients/{patient_id}"' in for_patient.text and "<td>Login</td>" not in for_patient.text
    assert "No entries match these filters." in nothing.text
    assert bad.status_code == 422 and "Enter a valid date." in bad.text and "digits only" in bad.text
    assert edge.status_code == 422 and "Enter a valid date." in edge.text
