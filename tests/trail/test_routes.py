"""The audit trail: every patient read leaves one entry tied to the request; failed writes leave none;
administrators read and filter it, clinicians cannot."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func
from sqlmodel import col, select

from careteam.audit.tables import AuditEntry
from careteam.core.vocab import ClinicRole, Discipline
from careteam.patients.codes import TeamRole
from careteam.patients.tables import Patient
from tests.factories import make_patient, make_user


async def entries(db: Any, **where: Any) -> list[AuditEntry]:
    async with db() as s:
        query = select(AuditEntry).order_by(col(AuditEntry.id))
        for name, value in where.items():
            query = query.where(getattr(AuditEntry, name) == value)
        return list(await s.exec(query))


async def count(db: Any, table: Any) -> int:
    async with db() as s:
        return int((await s.exec(select(func.count()).select_from(table))).one())


async def _clinic(db: Any) -> dict[str, int]:
    async with db() as s:
        await make_user(s, "admin_a", discipline=Discipline.ipm_lead, role=ClinicRole.admin)
        lead = await make_user(s, "lead_a", discipline=Discipline.ipm_lead)
        nurse = await make_user(s, "nurse_a")
        marsh = await make_patient(
            s, members=[(lead, TeamRole.lead), (nurse, TeamRole.member)], name="Ellen Marsh"
        )
        chen = await make_patient(s, members=[(lead, TeamRole.lead)], name="Robert Chen")
    return {"lead": lead.id or 0, "nurse": nurse.id or 0, "marsh": marsh.id or 0, "chen": chen.id or 0}


async def test_each_patient_read_writes_one_entry_with_the_request_id(
    client: Any, db: Any, login: Any
) -> None:
    ids = await _clinic(db)
    headers = await login("nurse_a")
    before = len(await entries(db))
    r = await client.get(f"/api/v1/patients/{ids['marsh']}", headers=headers)
    assert r.status_code == 200
    new = (await entries(db))[before:]
    assert len(new) == 1
    [entry] = new
    assert (
        entry.user_id,
        entry.action,
        entry.patient_id,
        entry.resource_type,
        entry.resource_id,
        entry.outcome,
    ) == (ids["nurse"], "read", ids["marsh"], "patient", str(ids["marsh"]), "success")
    assert entry.request_id == r.headers["X-Request-ID"]

    # A request id the caller sends (a proxy's, say) is kept, so the two logs can be joined.
    r = await client.get(
        f"/api/v1/patients/{ids['marsh']}", headers={**headers, "X-Request-ID": "lb-7f3a9c21-0001"}
    )
    assert r.headers["X-Request-ID"] == "lb-7f3a9c21-0001"
    reads = await entries(db, action="read", patient_id=ids["marsh"], resource_type="patient")
    assert [e.request_id for e in reads][-1] == "lb-7f3a9c21-0001"
    assert len(reads) == 2


async def test_malformed_request_id_is_replaced_not_stored(client: Any, db: Any, login: Any) -> None:
    ids = await _clinic(db)
    r = await client.get(
        f"/api/v1/patients/{ids['marsh']}", headers={**await login("nurse_a"), "X-Request-ID": 'x" or 1=1 --'}
    )
    assert r.status_code == 200
    assert r.headers["X-Request-ID"] != 'x" or 1=1 --'
    [entry] = await entries(db, action="read", resource_type="patient")
    assert entry.request_id == r.headers["X-Request-ID"]


async def test_listing_patients_audits_each_patient_shown(client: Any, db: Any, login: Any) -> None:
    ids = await _clinic(db)
    r = await client.get("/api/v1/patients", headers=await login("lead_a"))
    assert {p["id"] for p in r.json()["items"]} == {ids["marsh"], ids["chen"]}
    reads = await entries(db, action="read", resource_type="patient", user_id=ids["lead"])
    assert sorted(e.patient_id or 0 for e in reads) == sorted([ids["marsh"], ids["chen"]])
    assert {e.request_id for e in reads} == {r.headers["X-Request-ID"]}


async def test_refused_read_of_another_teams_patient_is_not_logged_as_a_read(
    client: Any, db: Any, login: Any
) -> None:
    ids = await _clinic(db)
    r = await client.get(f"/api/v1/patients/{ids['chen']}", headers=await login("nurse_a"))
    assert r.status_code == 404
    assert await entries(db, action="read", patient_id=ids["chen"]) == []


async def test_stale_patch_records_only_the_read_of_what_it_shows(client: Any, db: Any, login: Any) -> None:
    """The failed write leaves no update entry; the current state the 412 shows is a read, and audited."""
    ids = await _clinic(db)
    headers = await login("lead_a")
    url = f"/api/v1/patients/{ids['marsh']}"
    ok = await client.patch(url, json={"name": "Ellen M. Marsh"}, headers={**headers, "If-Match": 'W/"1"'})
    assert ok.status_code == 200
    [update] = await entries(db, action="update", patient_id=ids["marsh"])
    assert (update.user_id, update.resource_type, update.outcome) == (ids["lead"], "patient", "success")
    assert update.request_id == ok.headers["X-Request-ID"]

    before = await entries(db)
    r = await client.patch(url, json={"name": "Overwritten"}, headers={**headers, "If-Match": 'W/"1"'})
    assert r.status_code == 412
    assert r.json()["current"]["name"] == "Ellen M. Marsh"
    [shown] = (await entries(db))[len(before) :]
    assert (shown.action, shown.resource_type, shown.patient_id, shown.user_id) == (
        "read",
        "patient",
        ids["marsh"],
        ids["lead"],
    )
    assert shown.request_id == r.headers["X-Request-ID"]
    assert len(await entries(db, action="update", patient_id=ids["marsh"])) == 1
    async with db() as s:
        patient = await s.get(Patient, ids["marsh"])
    assert patient is not None and (patient.name, patient.version) == ("Ellen M. Marsh", 2)


async def test_duplicate_mrn_leaves_no_entry_and_stores_nothing(client: Any, db: Any, login: Any) -> None:
    await _clinic(db)
    headers = await login("lead_a")
    body = {"mrn": "IPM-900001", "name": "Fatima Haddad", "birth_date": "1990-06-19"}
    assert (await client.post("/api/v1/patients", json=body, headers=headers)).status_code == 201
    before = (len(await entries(db)), await count(db, Patient))
    r = await client.post("/api/v1/patients", json={**body, "name": "Someone Else"}, headers=headers)
    assert r.status_code == 409
    assert (len(await entries(db)), await count(db, Patient)) == before


async def test_failed_sign_in_is_audited_as_a_failure(client: Any, db: Any) -> None:
    ids = await _clinic(db)
    r = await client.post("/api/v1/auth/token", json={"username": "nurse_a", "password": "wrong guess"})
    assert r.status_code == 401
    [entry] = await entries(db, action="login")
    assert (entry.user_id, entry.outcome) == (ids["nurse"], "failure")
    assert entry.request_id == r.headers["X-Request-ID"]


# --- The admin audit API --------------------------------------------------------------------------


async def _activity(client: Any, db: Any, login: Any) -> dict[str, int]:
    ids = await _clinic(db)
    lead, nurse = await login("lead_a"), await login("nurse_a")
    await client.get(f"/api/v1/patients/{ids['marsh']}", headers=nurse)
    await client.get(f"/api/v1/patients/{ids['chen']}", headers=lead)
    await client.get(f"/api/v1/patients/{ids['marsh']}", headers=lead)
    await client.patch(
        f"/api/v1/patients/{ids['chen']}",
        json={"name": "Robert K. Chen"},
        headers={**lead, "If-Match": 'W/"1"'},
    )
    return ids


async def test_admin_lists_the_trail_newest_first(client: Any, db: Any, login: Any) -> None:
    await _activity(client, db, login)
    r = await client.get("/api/v1/audit", headers=await login("admin_a"))
    assert r.status_code == 200, r.text
    page = r.json()
    stored = await entries(db)
    assert page["total"] == len(stored)
    assert [e["id"] for e in page["items"]] == [e.id for e in reversed(stored)]
    # Newest first: the administrator's own sign-in, then the last change.
    assert [(e["action"], e["outcome"]) for e in page["items"][:2]] == [
        ("login", "success"),
        ("update", "success"),
    ]


async def test_admin_filters_by_user_patient_and_action(client: Any, db: Any, login: Any) -> None:
    ids = await _activity(client, db, login)
    admin = await login("admin_a")

    async def audit(**params: Any) -> list[dict[str, Any]]:
        r = await client.get("/api/v1/audit", params=params, headers=admin)
        assert r.status_code == 200, r.text
        assert r.json()["total"] == len(r.json()["items"])
        items: list[dict[str, Any]] = r.json()["items"]
        return items

    by_nurse = await audit(user_id=ids["nurse"])
    assert by_nurse and {e["user_id"] for e in by_nurse} == {ids["nurse"]}
    assert {(e["action"], e["patient_id"]) for e in by_nurse if e["patient_id"]} == {("read", ids["marsh"])}

    about_chen = await audit(patient_id=ids["chen"])
    assert {(e["user_id"], e["action"]) for e in about_chen} == {
        (ids["lead"], "read"),
        (ids["lead"], "update"),
    }

    updates = await audit(action="update")
    assert [(e["patient_id"], e["resource_type"]) for e in updates] == [(ids["chen"], "patient")]

    reads_of_marsh = await audit(action="read", patient_id=ids["marsh"])
    assert sorted(e["user_id"] for e in reads_of_marsh) == sorted([ids["lead"], ids["nurse"]])
    assert await audit(user_id=ids["nurse"], patient_id=ids["chen"]) == []


async def test_audit_trail_is_for_administrators_only(client: Any, db: Any, login: Any) -> None:
    await _clinic(db)
    for username in ("lead_a", "nurse_a"):
        r = await client.get("/api/v1/audit", headers=await login(username))
        assert r.status_code == 403
        assert r.headers["content-type"].startswith("application/problem+json")
        assert "items" not in r.json()
    assert (await client.get("/api/v1/audit")).status_code == 401


async def test_a_date_with_no_utc_time_is_a_field_error(client: Any, db: Any, login: Any) -> None:
    await _clinic(db)
    async with db() as s:
        await make_user(s, "auditor", discipline=Discipline.ipm_lead, role=ClinicRole.admin)
    r = await client.get(
        "/api/v1/audit", params={"since": "0001-01-01T00:00:00+01:00"}, headers=await login("auditor")
    )
    assert r.status_code == 422 and [e["field"] for e in r.json()["errors"]] == ["since"]
