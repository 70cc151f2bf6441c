"""An administrator resets a clinician's password: a temporary password shown once, all her sessions end,
and she must choose her own at her next sign-in (API and pages); audited."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from sqlmodel import select

from careteam.accounts.tables import AuthSession, User
from careteam.audit.tables import AuditEntry
from careteam.core.vocab import ClinicRole, Discipline
from careteam.db.engine import unit_of_work
from tests.factories import PASSWORD, make_user
from tests.web.test_pages import browser, csrf, post_login, signed_in, token_on
from tests.web.test_pages import make_user as make_page_user


async def test_an_admin_resets_a_password_over_the_api(client: Any, db: Any, login: Any) -> None:
    async with db() as s:
        await make_user(s, "admin1", discipline=Discipline.ipm_lead, role=ClinicRole.admin)
        nurse = await make_user(s, "nurse1", discipline=Discipline.nurse)
    admin_h, nurse_h = await login("admin1"), await login("nurse1")
    other_nurse_h = await login("nurse1")

    refused = await client.post(f"/api/v1/users/{nurse.id}/password-reset", headers=nurse_h)
    assert refused.status_code == 403
    r = await client.post(f"/api/v1/users/{nurse.id}/password-reset", headers=admin_h)
    assert r.status_code == 200, r.text
    assert r.headers["cache-control"] == "no-store"
    temporary = r.json()["temporary_password"]
    assert len(temporary) >= 15 and r.json()["user"]["temporary_credentials"] is True

    # All her sessions and tokens ended; her old password no longer works.
    for h in (nurse_h, other_nurse_h):
        assert (await client.get("/api/v1/me", headers=h)).status_code == 401
    old = await client.post("/api/v1/auth/token", json={"username": "nurse1", "password": PASSWORD})
    assert old.status_code == 401
    h = await login("nurse1", temporary)
    me = await client.get("/api/v1/me", headers=h)
    assert me.status_code == 200 and me.json()["temporary_credentials"] is True
    blocked = await client.get("/api/v1/patients", headers=h)
    assert blocked.status_code == 403 and "Password change required" in blocked.json()["detail"]

    changed = await client.post(
        "/api/v1/me/password",
        json={"current_password": temporary, "new_password": "a passphrase of her own"},
        headers=h,
    )
    assert changed.status_code == 204
    assert (await client.get("/api/v1/patients", headers=h)).status_code == 200  # this token stays
    assert (await client.get("/api/v1/me", headers=h)).json()["temporary_credentials"] is False
    await login("nurse1", "a passphrase of her own")
    async with db() as s:
        updates = list(
            await s.exec(
                select(AuditEntry).where(
                    AuditEntry.resource_type == "user", AuditEntry.resource_id == str(nurse.id)
                )
            )
        )
    assert [e.action for e in updates] == ["update", "update"]  # the reset, then her change


async def test_the_accounts_page_resets_and_she_must_choose_her_own_at_sign_in(app: FastAPI) -> None:
    admin = await make_page_user(app, "ada.admin", Discipline.physician, ClinicRole.admin)
    nurse = await make_page_user(app, "nina.nurse", Discipline.nurse)
    async with signed_in(app, admin) as client, signed_in(app, nurse) as nurse_client:
        token = await token_on(client, "/admin/users")
        page = await client.get("/admin/users")
        assert f'action="/admin/users/{nurse.user_id}/password-reset"' in page.text
        assert f'action="/admin/users/{admin.user_id}/password-reset"' not in page.text  # not her own
        reset = await client.post(
            f"/admin/users/{nurse.user_id}/password-reset", data={"csrf_token": token, "page": "1"}
        )
        assert reset.status_code == 200 and reset.headers["cache-control"] == "no-store"
        assert "Password reset for Nina Nurse" in reset.text and "Must change password" in reset.text
        shown = reset.text.split('data-field="temporary-password">', 1)[1].split("<", 1)[0]
        assert (await nurse_client.get("/patients")).status_code == 303  # signed out at once
        again = await client.get("/admin/users")
        assert shown not in again.text  # shown once

    async with browser(app) as client:
        assert (await post_login(client, "nina.nurse", "pw-nina.nurse")).status_code == 401
        signed = await post_login(client, "nina.nurse", shown)
        assert signed.status_code == 303
        for path in ("/patients", "/work", "/messages"):
            r = await client.get(path)
            assert r.status_code == 303 and r.headers["location"] == "/account/password", path
        form = await client.get("/account/password")
        assert form.status_code == 200 and "An administrator reset your password" in form.text
        token = csrf(form.text)

        async def choose(current: str, new: str, again: str) -> Any:
            data = {"current_password": current, "new_password": new, "confirm_password": again}
            return await client.post("/account/password", data={"csrf_token": token, **data})

        wrong = await choose("not it", "my own passphrase", "my own passphrase")
        assert wrong.status_code == 422 and "Your current password is wrong." in wrong.text
        differ = await choose(shown, "my own passphrase", "my own passphrase!")
        assert differ.status_code == 422 and "The two new passwords differ." in differ.text
        done = await choose(shown, "my own passphrase", "my own passphrase")
        assert done.status_code == 303 and done.headers["location"] == "/patients"
        assert (await client.get("/patients")).status_code == 200  # this browser stays signed in
    async with unit_of_work(app.state.sessions) as session:
        user = (await session.exec(select(User).where(User.username == "nina.nurse"))).one()
        sessions = list(await session.exec(select(AuthSession).where(AuthSession.user_id == user.id)))
    assert user.must_change_password is False and len(sessions) == 1


async def test_a_clinician_changes_her_own_password_from_her_name_in_the_header(app: FastAPI) -> None:
    nurse = await make_page_user(app, "nina.nurse", Discipline.nurse)
    async with signed_in(app, nurse) as client:
        page = await client.get("/patients")
        assert 'href="/account/password"' in page.text  # her name in the header
        form = await client.get("/account/password")
        assert "Current password" in form.text and "Temporary password" not in form.text
        assert "Your password is changed" not in form.text
        data = {"current_password": "pw-nina.nurse", "new_password": "my own passphrase"}
        done = await client.post(
            "/account/password",
            data={"csrf_token": csrf(form.text), **data, "confirm_password": "my own passphrase"},
        )
        assert done.status_code == 303 and done.headers["location"] == "/account/password?changed=true"
        confirmed = await client.get(done.headers["location"])
        assert "Your password is changed" in confirmed.text
    async with browser(app) as other:
        assert (await post_login(other, "nina.nurse", "pw-nina.nurse")).status_code == 401
        assert (await post_login(other, "nina.nurse", "my own passphrase")).status_code == 303
