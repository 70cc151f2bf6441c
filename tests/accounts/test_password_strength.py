"""A password someone chooses must not be easy to guess (NIST SP 800-63B: checked against common, breached
and patterned passwords with zxcvbn, her names as context), wherever she or an administrator chooses it:
API, pages and the command line. Refusals name the field and say why; nothing changes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from sqlmodel import func, select

from careteam.accounts.passwords import verify_password, weak_password_reason
from careteam.accounts.tables import User
from careteam.core.vocab import ClinicRole, Discipline
from careteam.db.engine import unit_of_work
from tests.factories import PASSWORD, make_user
from tests.test_cli import careteam, rows_per_table, sqlite_url
from tests.web.test_pages import csrf, signed_in
from tests.web.test_pages import make_user as make_page_user

WEAK = ["12345678", "password", "aaaaaaaa"]
PROBLEM = "application/problem+json"


@pytest.mark.parametrize("weak", WEAK)
def test_common_and_patterned_passwords_are_weak(weak: str) -> None:
    reason = weak_password_reason(weak, context=("nina.nurse", "Nina Nurse"))
    assert reason is not None and "choose another" in reason


def test_a_password_built_from_her_names_is_weak_and_a_passphrase_is_not() -> None:
    assert weak_password_reason("pw-nina.nurse", context=("nina.nurse", "Nina Nurse")) is not None
    assert weak_password_reason("nina nurse 1", context=("nina.nurse", "Nina Nurse")) is not None
    assert weak_password_reason(PASSWORD, context=("nurse1", "Nurse One")) is None
    # Past zxcvbn's 72-character bound the estimate is of the first 72: long passphrases are fine.
    assert weak_password_reason("uncommon words in a row " * 10, context=()) is None


def refused_field(r: Any, field: str) -> str:
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith(PROBLEM)
    errors = r.json()["errors"]
    assert [e["field"] for e in errors] == [field], errors
    message: str = errors[0]["message"]
    assert "choose another" in message
    return message


@pytest.mark.parametrize("weak", WEAK)
async def test_an_admin_cannot_give_an_account_a_weak_password(
    client: Any, db: Any, login: Any, weak: str
) -> None:
    async with db() as s:
        await make_user(s, "root1", discipline=Discipline.ipm_lead, role=ClinicRole.admin)
        nurse = await make_user(s, "nurse1", discipline=Discipline.nurse)
    admin = await login("root1")
    body = {"username": "newnurse", "display_name": "New Nurse", "discipline": "nurse", "password": weak}
    message = refused_field(await client.post("/api/v1/users", json=body, headers=admin), "password")
    assert "12345678" not in message and "aaaaaaaa" not in message  # the password is never echoed
    changed = await client.patch(
        f"/api/v1/users/{nurse.id}", json={"password": weak}, headers={**admin, "If-Match": '"1"'}
    )
    refused_field(changed, "password")
    async with db() as s:
        assert (await s.exec(select(func.count()).where(User.username == "newnurse"))).one() == 0
        stored = (await s.exec(select(User).where(User.username == "nurse1"))).one()
    assert stored.version == 1 and verify_password(PASSWORD, stored.password_hash)


@pytest.mark.parametrize("weak", WEAK)
async def test_a_clinician_cannot_choose_a_weak_password(client: Any, db: Any, login: Any, weak: str) -> None:
    async with db() as s:
        await make_user(s, "nurse1", discipline=Discipline.nurse)
    h = await login("nurse1")
    r = await client.post(
        "/api/v1/me/password", json={"current_password": PASSWORD, "new_password": weak}, headers=h
    )
    refused_field(r, "new_password")
    assert (await client.get("/api/v1/me", headers=h)).status_code == 200  # still signed in, unchanged
    await login("nurse1", PASSWORD)


async def test_the_password_page_shows_why_by_the_field(app: FastAPI) -> None:
    nurse = await make_page_user(app, "nina.nurse", Discipline.nurse)
    async with signed_in(app, nurse) as client:
        form = await client.get("/account/password")
        new = {"new_password": "password", "confirm_password": "password"}
        data = {"current_password": "pw-nina.nurse", **new}
        r = await client.post("/account/password", data={"csrf_token": csrf(form.text), **data})
    assert r.status_code == 422
    assert 'id="password-new_password-error"' in r.text
    assert "top-10 common password" in r.text
    async with unit_of_work(app.state.sessions) as session:
        user = (await session.exec(select(User).where(User.username == "nina.nurse"))).one()
    assert verify_password("pw-nina.nurse", user.password_hash)


async def test_the_accounts_page_shows_why_by_the_field(app: FastAPI) -> None:
    admin = await make_page_user(app, "ada.admin", Discipline.ipm_lead, ClinicRole.admin)
    async with signed_in(app, admin) as client:
        page = await client.get("/admin/users")
        data = {
            "csrf_token": csrf(page.text),
            "username": "paul.pt",
            "display_name": "Paul Therapist",
            "discipline": "physical_therapist",
            "role": "clinician",
            "password": "aaaaaaaa",
        }
        r = await client.post("/admin/users", data=data)
    assert r.status_code == 422
    assert 'id="account-password-error"' in r.text and "Repeats like" in r.text
    assert "aaaaaaaa" not in r.text
    async with unit_of_work(app.state.sessions) as session:
        assert (await session.exec(select(User).where(User.username == "paul.pt"))).first() is None


async def test_the_command_line_refuses_a_weak_password_naming_the_field(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path)
    assert (await careteam(url, "db", "upgrade")).exit_code == 0
    result = await careteam(
        url, "user", "create", "grace.m", "--name", "Grace", "--discipline", "nurse", "--password", "12345678"
    )
    assert result.exit_code == 1
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    assert "error: password:" in result.stderr and "common password" in result.stderr
    assert (await rows_per_table(url))["user_account"] == 0
