"""Clinician accounts over the API: administrators manage them; everyone reads the directory."""

from __future__ import annotations

import hashlib
from typing import Any

from sqlalchemy import func
from sqlmodel import select

from careteam.accounts.sessions import handle_of
from careteam.accounts.tables import User
from careteam.audit.tables import AuditEntry
from careteam.core.vocab import ClinicRole, Discipline
from tests.factories import PASSWORD, make_user

NEW = {
    "username": "grace.m",
    "display_name": "Grace Mbeki, RN",
    "discipline": "nurse",
    "password": "long enough",
}


async def users(db: Any) -> int:
    async with db() as s:
        return int((await s.exec(select(func.count()).select_from(User))).one())


def is_problem(r: Any, status: int) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = r.json()
    assert body["status"] == status and body["type"] and body["title"]
    return body


async def _staff(db: Any) -> tuple[int, int]:
    async with db() as s:
        admin = await make_user(s, "admin1", discipline=Discipline.ipm_lead, role=ClinicRole.admin)
        nurse = await make_user(s, "nurse1", discipline=Discipline.nurse)
        await make_user(s, "physio1", discipline=Discipline.physical_therapist)
    return admin.id or 0, nurse.id or 0


async def test_anonymous_sees_no_directory(client: Any, db: Any) -> None:
    await _staff(db)
    is_problem(await client.get("/api/v1/users"), 401)
    is_problem(await client.post("/api/v1/users", json=NEW), 401)
    assert await users(db) == 3


async def test_clinician_cannot_open_or_change_accounts(client: Any, db: Any, login: Any) -> None:
    _, nurse_id = await _staff(db)
    headers = await login("nurse1")
    is_problem(await client.post("/api/v1/users", json=NEW, headers=headers), 403)
    r = await client.patch(
        f"/api/v1/users/{nurse_id}", json={"role": "admin"}, headers={**headers, "If-Match": 'W/"1"'}
    )
    is_problem(r, 403)
    assert await users(db) == 3
    async with db() as s:
        nurse = await s.get(User, nurse_id)
    assert nurse is not None and (nurse.role, nurse.version) == ("clinician", 1)


async def test_admin_opens_an_account_that_can_sign_in(client: Any, db: Any, login: Any) -> None:
    await _staff(db)
    r = await client.post("/api/v1/users", json=NEW, headers=await login("admin1"))
    assert r.status_code == 201, r.text
    body = r.json()
    assert {k: body[k] for k in ("username", "display_name", "discipline", "role", "active")} == {
        "username": "grace.m",
        "display_name": "Grace Mbeki, RN",
        "discipline": "nurse",
        "role": "clinician",
        "active": True,
    }
    assert not {"password", "password_hash"} & body.keys()
    assert r.headers["ETag"] == 'W/"1"'
    me = await client.get("/api/v1/me", headers=await login("grace.m", "long enough"))
    assert me.json()["id"] == body["id"]


async def test_duplicate_username_is_a_conflict_naming_username(client: Any, db: Any, login: Any) -> None:
    await _staff(db)
    body = is_problem(
        await client.post("/api/v1/users", json={**NEW, "username": "nurse1"}, headers=await login("admin1")),
        409,
    )
    assert [e["field"] for e in body["errors"]] == ["username"]
    assert await users(db) == 3


async def test_directory_lists_and_filters(client: Any, db: Any, login: Any) -> None:
    await _staff(db)
    async with db() as s:
        await make_user(s, "nurse_old", discipline=Discipline.nurse, active=False)
    headers = await login("nurse1")
    everyone = (await client.get("/api/v1/users", headers=headers)).json()
    assert everyone["total"] == 4 and len(everyone["items"]) == 4
    nurses = (await client.get("/api/v1/users", params={"discipline": "nurse"}, headers=headers)).json()
    assert sorted(u["username"] for u in nurses["items"]) == ["nurse1", "nurse_old"]
    active = (
        await client.get("/api/v1/users", params={"discipline": "nurse", "active": "true"}, headers=headers)
    ).json()
    assert [u["username"] for u in active["items"]] == ["nurse1"]
    page = (await client.get("/api/v1/users", params={"limit": 1, "offset": 1}, headers=headers)).json()
    assert len(page["items"]) == 1 and page["total"] == 4
    assert page["items"][0]["username"] == everyone["items"][1]["username"]


async def test_admin_changes_an_account_with_if_match(client: Any, db: Any, login: Any) -> None:
    _, nurse_id = await _staff(db)
    headers = await login("admin1")
    url = f"/api/v1/users/{nurse_id}"
    r = await client.get(url, headers=headers)
    assert r.headers["ETag"] == 'W/"1"'
    r = await client.patch(url, json={"display_name": "Grace M."}, headers={**headers, "If-Match": 'W/"1"'})
    assert r.status_code == 200, r.text
    assert r.json()["display_name"] == "Grace M." and r.headers["ETag"] == 'W/"2"'
    # Someone who read version 1 does not overwrite it; she is shown what is there now.
    stale = is_problem(
        await client.patch(url, json={"display_name": "Other"}, headers={**headers, "If-Match": 'W/"1"'}), 412
    )
    assert stale["current"]["display_name"] == "Grace M."
    is_problem(await client.patch(url, json={"display_name": "Other"}, headers=headers), 428)
    assert (await client.get(url, headers=headers)).json()["display_name"] == "Grace M."


async def test_deactivated_account_cannot_sign_in(client: Any, db: Any, login: Any) -> None:
    _, nurse_id = await _staff(db)
    headers = await login("admin1")
    r = await client.patch(
        f"/api/v1/users/{nurse_id}", json={"active": False}, headers={**headers, "If-Match": 'W/"1"'}
    )
    assert r.status_code == 200 and r.json()["active"] is False
    r = await client.post(
        "/api/v1/auth/token", json={"username": "nurse1", "password": "correct horse battery"}
    )
    is_problem(r, 401)
    inactive = (await client.get("/api/v1/users", params={"active": "false"}, headers=headers)).json()
    assert [u["id"] for u in inactive["items"]] == [nurse_id]


async def test_unknown_user_is_not_found(client: Any, db: Any, login: Any) -> None:
    await _staff(db)
    is_problem(await client.get("/api/v1/users/999999", headers=await login("nurse1")), 404)


async def test_admin_cannot_lock_herself_out(client: Any, db: Any, login: Any) -> None:
    admin_id, _ = await _staff(db)
    headers = await login("admin1")
    url = f"/api/v1/users/{admin_id}"
    for change in ({"active": False}, {"role": "clinician"}):
        r = await client.patch(url, json=change, headers={**headers, "If-Match": 'W/"1"'})
        body = is_problem(r, 422)
        assert [e["field"] for e in body["errors"]] == ["active"]
    me = await client.get("/api/v1/me", headers=headers)
    assert (me.status_code, me.json()["role"], me.json()["active"]) == (200, "admin", True)


async def test_refusals_that_used_to_be_server_errors(client: Any, db: Any, login: Any) -> None:
    """A null password and a display name longer than its column are field errors, and change nothing."""
    _, nurse_id = await _staff(db)
    headers = {**await login("admin1"), "If-Match": 'W/"1"'}
    r = await client.patch(f"/api/v1/users/{nurse_id}", json={"password": None}, headers=headers)
    assert r.status_code == 422 and [e["field"] for e in r.json()["errors"]] == ["password"]
    r = await client.post(
        "/api/v1/users", json={**NEW, "display_name": "N" * 121}, headers=await login("admin1")
    )
    assert r.status_code == 422 and [e["field"] for e in r.json()["errors"]] == ["body.display_name"]
    assert (await client.get(f"/api/v1/users/{nurse_id}", headers=await login("admin1"))).headers[
        "etag"
    ] == 'W/"1"'


async def test_an_admin_cannot_lock_herself_out(client: Any, db: Any, login: Any) -> None:
    admin_id, _ = await _staff(db)
    r = await client.patch(
        f"/api/v1/users/{admin_id}",
        json={"active": False},
        headers={**await login("admin1"), "If-Match": 'W/"1"'},
    )
    assert r.status_code == 422 and [e["field"] for e in r.json()["errors"]] == ["active"]


# --- Her sessions and tokens: listed and revoked -----------------------------------------------------


async def _token(client: Any, username: str) -> tuple[str, dict[str, str]]:
    r = await client.post("/api/v1/auth/token", json={"username": username, "password": PASSWORD})
    assert r.status_code == 200, r.text
    secret = r.json()["access_token"]
    return secret, {"Authorization": f"Bearer {secret}"}


async def test_she_lists_her_sessions_without_their_secrets(client: Any, db: Any) -> None:
    await _staff(db)
    first_secret, _ = await _token(client, "nurse1")
    second_secret, second = await _token(client, "nurse1")
    await _token(client, "physio1")  # someone else's: not in her list
    r = await client.get("/api/v1/me/sessions", headers=second)
    assert r.status_code == 200, r.text
    items = r.json()["items"]
    assert len(items) == 2
    assert [i["current"] for i in items].count(True) == 1
    current = next(i for i in items if i["current"])
    assert current["id"] == handle_of(hashlib.sha256(second_secret.encode()).hexdigest())
    for item in items:
        assert item["kind"] == "token"
        assert item["client_ip"] == "127.0.0.1"  # httpx's ASGI transport's client
        assert set(item) == {"id", "kind", "created_at", "last_used_at", "expires_at", "client_ip", "current"}
    assert first_secret not in r.text and second_secret not in r.text
    assert hashlib.sha256(first_secret.encode()).hexdigest() not in r.text


async def test_a_revoked_token_is_refused_at_once_and_the_revocation_audited(client: Any, db: Any) -> None:
    _, nurse_id = await _staff(db)
    _, laptop = await _token(client, "nurse1")
    _, script = await _token(client, "nurse1")
    items = (await client.get("/api/v1/me/sessions", headers=laptop)).json()["items"]
    script_id = next(i["id"] for i in items if not i["current"])
    r = await client.delete(f"/api/v1/me/sessions/{script_id}", headers=laptop)
    assert r.status_code == 204, r.text
    is_problem(await client.get("/api/v1/me", headers=script), 401)
    assert (await client.get("/api/v1/me", headers=laptop)).status_code == 200
    # Gone from the list; revoking it again is not found.
    assert [i["id"] for i in (await client.get("/api/v1/me/sessions", headers=laptop)).json()["items"]] == [
        next(i["id"] for i in items if i["current"])
    ]
    is_problem(await client.delete(f"/api/v1/me/sessions/{script_id}", headers=laptop), 404)
    async with db() as s:
        rows = (await s.exec(select(AuditEntry).where(AuditEntry.resource_type == "session"))).all()
    revoked = [(r.user_id, r.action, r.resource_id) for r in rows if r.action == "delete"]
    assert revoked == [(nurse_id, "delete", f"{nurse_id}:{script_id}")]
    # Revoking the current one signs this client out.
    own = next(i["id"] for i in items if i["current"])
    assert (await client.delete(f"/api/v1/me/sessions/{own}", headers=laptop)).status_code == 204
    is_problem(await client.get("/api/v1/me", headers=laptop), 401)


async def test_an_administrator_manages_anyones_sessions_and_a_clinician_only_her_own(
    client: Any, db: Any
) -> None:
    admin_id, nurse_id = await _staff(db)
    _, admin = await _token(client, "admin1")
    _, nurse = await _token(client, "nurse1")
    _, physio = await _token(client, "physio1")
    listed = await client.get(f"/api/v1/users/{nurse_id}/sessions", headers=admin)
    assert listed.status_code == 200
    (item,) = listed.json()["items"]
    assert item["current"] is False  # the administrator's own request is not that session
    # Another clinician may neither list nor revoke them; someone else's handle under /me is not found.
    is_problem(await client.get(f"/api/v1/users/{nurse_id}/sessions", headers=physio), 403)
    is_problem(await client.delete(f"/api/v1/users/{nurse_id}/sessions/{item['id']}", headers=physio), 403)
    is_problem(await client.delete(f"/api/v1/me/sessions/{item['id']}", headers=physio), 404)
    assert (await client.get("/api/v1/me", headers=nurse)).status_code == 200
    # Her own, by the users route too; an unknown account is not found.
    assert (await client.get(f"/api/v1/users/{nurse_id}/sessions", headers=nurse)).status_code == 200
    is_problem(await client.get("/api/v1/users/999999/sessions", headers=admin), 404)
    r = await client.delete(f"/api/v1/users/{nurse_id}/sessions/{item['id']}", headers=admin)
    assert r.status_code == 204, r.text
    is_problem(await client.get("/api/v1/me", headers=nurse), 401)
    async with db() as s:
        row = (await s.exec(select(AuditEntry).where(AuditEntry.action == "delete"))).one()
    assert (row.user_id, row.resource_id) == (admin_id, f"{nurse_id}:{item['id']}")
