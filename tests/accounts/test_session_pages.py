"""Her account page lists where she is signed in (browser sessions, API tokens) and signs any of them out."""

from __future__ import annotations

import re

from fastapi import FastAPI

from careteam.core.vocab import Discipline
from tests.web.test_pages import browser, csrf, signed_in
from tests.web.test_pages import make_user as make_page_user


def _rows(html: str) -> list[str]:
    return re.findall(r'<tr id="session-([0-9a-f]{16})">', html)


async def test_she_signs_out_another_session_from_her_account_page(app: FastAPI) -> None:
    nurse = await make_page_user(app, "nina.nurse", Discipline.nurse)
    token = await _client_token(app, "nina.nurse", "pw-nina.nurse")
    async with signed_in(app, nurse) as client:
        page = await client.get("/account/password")
        assert page.status_code == 200
        assert "Where you are signed in" in page.text
        rows = _rows(page.text)
        assert len(rows) == 2
        assert page.text.count("This browser") == 1 and "API token" in page.text
        assert token not in page.text  # never a secret
        other = next(
            h for h in rows if f'id="session-{h}">\n          <th scope="row">API token' in page.text
        )
        done = await client.post(f"/account/sessions/{other}/revoke", data={"csrf_token": csrf(page.text)})
        assert (
            done.status_code == 303 and done.headers["location"] == "/account/password?revoked=true#sessions"
        )
        after = await client.get(done.headers["location"])
        assert "That session is signed out." in after.text
        assert _rows(after.text) == [h for h in rows if h != other]
        async with browser(app) as api:
            gone = await api.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
            assert gone.status_code == 401
        # Again (a second tab, a double click): the list as it is, and no error page.
        again = await client.post(f"/account/sessions/{other}/revoke", data={"csrf_token": csrf(page.text)})
        assert again.status_code == 404 and "That session had already ended" in again.text
        # Without the form's CSRF token nothing happens.
        (own,) = _rows(after.text)
        refused = await client.post(f"/account/sessions/{own}/revoke", data={"csrf_token": "forged"})
        assert refused.status_code == 403
        assert (await client.get("/account/password")).status_code == 200
        # Her own browser's: signed out here.
        out = await client.post(f"/account/sessions/{own}/revoke", data={"csrf_token": csrf(after.text)})
        assert out.status_code == 303 and out.headers["location"] == "/login"
        assert (await client.get("/account/password")).status_code == 303


async def _client_token(app: FastAPI, username: str, password: str) -> str:
    async with browser(app) as api:
        r = await api.post("/api/v1/auth/token", json={"username": username, "password": password})
        assert r.status_code == 200, r.text
        token: str = r.json()["access_token"]
        return token


async def test_someone_elses_session_cannot_be_signed_out_from_her_page(app: FastAPI) -> None:
    nurse = await make_page_user(app, "nina.nurse", Discipline.nurse)
    physio = await make_page_user(app, "pat.physio", Discipline.physical_therapist)
    async with signed_in(app, physio) as theirs:
        (their_session,) = _rows((await theirs.get("/account/password")).text)
        async with signed_in(app, nurse) as client:
            page = await client.get("/account/password")
            r = await client.post(
                f"/account/sessions/{their_session}/revoke", data={"csrf_token": csrf(page.text)}
            )
            assert r.status_code == 404
        assert (await theirs.get("/account/password")).status_code == 200
