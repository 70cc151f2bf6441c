"""Patients and their care teams over the API: who may register, see and change them."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func
from sqlmodel import select

from careteam.core.vocab import ClinicRole, Discipline
from careteam.patients.codes import TeamRole
from careteam.patients.tables import CareTeam, CareTeamMember, Patient
from tests.factories import make_patient, make_plan, make_user

NEW = {"mrn": "IPM-200001", "name": "Ellen Marsh", "birth_date": "1968-04-12"}


async def count(db: Any, table: Any) -> int:
    async with db() as s:
        return int((await s.exec(select(func.count()).select_from(table))).one())


def is_problem(r: Any, status: int) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = r.json()
    assert body["status"] == status and body["type"] and body["title"]
    return body


# --- Registering a patient ------------------------------------------------------------------------


async def test_register_patient_needs_sign_in(client: Any, db: Any) -> None:
    r = await client.post("/api/v1/patients", json=NEW)
    is_problem(r, 401)
    assert r.headers["WWW-Authenticate"] == "Bearer"
    assert await count(db, Patient) == 0


async def test_clinician_who_is_not_a_lead_cannot_register(client: Any, db: Any, login: Any) -> None:
    async with db() as s:
        await make_user(s, "nurse1", discipline=Discipline.nurse)
    is_problem(await client.post("/api/v1/patients", json=NEW, headers=await login("nurse1")), 403)
    assert await count(db, Patient) == 0


async def test_lead_registers_a_patient_and_leads_her_team(client: Any, db: Any, login: Any) -> None:
    async with db() as s:
        lead = await make_user(s, "lead1", discipline=Discipline.ipm_lead)
    headers = await login("lead1")
    r = await client.post("/api/v1/patients", json={**NEW, "name": "  Ellen Marsh  "}, headers=headers)
    assert r.status_code == 201, r.text
    patient = r.json()
    assert patient["mrn"] == "IPM-200001" and patient["name"] == "Ellen Marsh"
    assert patient["birth_date"] == "1968-04-12"
    assert r.headers["ETag"] == 'W/"1"'
    assert r.headers["Location"] == f"/api/v1/patients/{patient['id']}"

    r = await client.get(r.headers["Location"], headers=headers)
    assert r.status_code == 200 and r.json() == patient
    team = (await client.get(f"/api/v1/patients/{patient['id']}/care-team", headers=headers)).json()
    assert [(m["user_id"], m["role"], m["discipline"]) for m in team["members"]] == [
        (lead.id, "lead", "ipm_lead")
    ]
    listed = (await client.get("/api/v1/patients", headers=headers)).json()
    assert [p["id"] for p in listed["items"]] == [patient["id"]] and listed["total"] == 1


async def test_admin_registers_without_joining_the_team(client: Any, db: Any, login: Any) -> None:
    async with db() as s:
        await make_user(s, "admin1", discipline=Discipline.ipm_lead, role=ClinicRole.admin)
    headers = await login("admin1")
    r = await client.post("/api/v1/patients", json=NEW, headers=headers)
    assert r.status_code == 201, r.text
    team = (await client.get(f"/api/v1/patients/{r.json()['id']}/care-team", headers=headers)).json()
    assert team["members"] == []


async def test_duplicate_mrn_is_a_conflict_naming_mrn(client: Any, db: Any, login: Any) -> None:
    async with db() as s:
        await make_user(s, "lead2", discipline=Discipline.ipm_lead)
    headers = await login("lead2")
    assert (await client.post("/api/v1/patients", json=NEW, headers=headers)).status_code == 201
    before = (await count(db, Patient), await count(db, CareTeam), await count(db, CareTeamMember))
    r = await client.post(
        "/api/v1/patients", json={**NEW, "mrn": " IPM-200001 ", "name": "Someone Else"}, headers=headers
    )
    body = is_problem(r, 409)
    assert [e["field"] for e in body["errors"]] == ["mrn"]
    assert (await count(db, Patient), await count(db, CareTeam), await count(db, CareTeamMember)) == before


# --- Reading and correcting -----------------------------------------------------------------------


async def test_patient_of_another_team_is_not_found(client: Any, db: Any, login: Any) -> None:
    async with db() as s:
        mine = await make_user(s, "nurse_m")
        theirs = await make_user(s, "nurse_t")
        await make_patient(s, members=[(mine, TeamRole.member)])
        hidden = await make_patient(s, members=[(theirs, TeamRole.member)], name="Hidden Patient")
    headers = await login("nurse_m")
    for path in (f"/api/v1/patients/{hidden.id}", f"/api/v1/patients/{hidden.id}/care-team"):
        body = is_problem(await client.get(path, headers=headers), 404)
        assert "Hidden Patient" not in str(body)
    r = await client.get("/api/v1/patients", params={"q": "hidden"}, headers=headers)
    assert r.json()["items"] == [] and r.json()["total"] == 0


async def test_search_finds_patients_by_name_or_mrn(client: Any, db: Any, login: Any) -> None:
    async with db() as s:
        nurse = await make_user(s, "nurse_s")
        marsh = await make_patient(s, members=[(nurse, TeamRole.member)], name="Ellen Marsh")
        chen = await make_patient(s, members=[(nurse, TeamRole.member)], name="Robert Chen")
    headers = await login("nurse_s")
    r = await client.get("/api/v1/patients", params={"q": "MARSH"}, headers=headers)
    assert [p["id"] for p in r.json()["items"]] == [marsh.id]
    r = await client.get("/api/v1/patients", params={"q": chen.mrn.lower()}, headers=headers)
    assert [p["id"] for p in r.json()["items"]] == [chen.id]


async def test_lead_corrects_demographics_members_may_not(client: Any, db: Any, login: Any) -> None:
    async with db() as s:
        lead = await make_user(s, "lead_u", discipline=Discipline.ipm_lead)
        nurse = await make_user(s, "nurse_u")
        patient = await make_patient(
            s, members=[(lead, TeamRole.lead), (nurse, TeamRole.member)], name="Ellen Marsh"
        )
    url = f"/api/v1/patients/{patient.id}"
    r = await client.patch(
        url, json={"name": "Nurse Edit"}, headers={**await login("nurse_u"), "If-Match": 'W/"1"'}
    )
    is_problem(r, 403)
    headers = await login("lead_u")
    r = await client.patch(url, json={"name": "Ellen M. Marsh"}, headers={**headers, "If-Match": 'W/"1"'})
    assert r.status_code == 200, r.text
    assert r.json()["name"] == "Ellen M. Marsh" and r.headers["ETag"] == 'W/"2"'
    r = await client.get(url, headers=headers)
    assert r.json()["name"] == "Ellen M. Marsh" and r.headers["ETag"] == 'W/"2"'


# --- Care team membership -------------------------------------------------------------------------


async def _team_world(db: Any) -> tuple[int, int, int]:
    async with db() as s:
        lead = await make_user(s, "lead_t", discipline=Discipline.ipm_lead)
        nurse = await make_user(s, "nurse_new", discipline=Discipline.nurse)
        patient = await make_patient(s, members=[(lead, TeamRole.lead)], name="Robert Chen")
        plan = await make_plan(s, patient)
    return patient.id or 0, nurse.id or 0, plan.id or 0


async def test_added_member_sees_the_patient_at_once(client: Any, db: Any, login: Any) -> None:
    patient_id, nurse_id, plan_id = await _team_world(db)
    nurse = await login("nurse_new")
    assert (await client.get(f"/api/v1/patients/{patient_id}", headers=nurse)).status_code == 404
    lead = await login("lead_t")
    etag = (await client.get(f"/api/v1/patients/{patient_id}/care-team", headers=lead)).headers["ETag"]
    r = await client.post(
        f"/api/v1/patients/{patient_id}/care-team/members",
        json={"user_id": nurse_id},
        headers={**lead, "If-Match": etag},
    )
    assert r.status_code == 201, r.text
    assert r.headers["ETag"] != etag
    added = [m for m in r.json()["members"] if m["user_id"] == nurse_id]
    assert [(m["role"], m["discipline"]) for m in added] == [("member", "nurse")]
    assert (await client.get(f"/api/v1/patients/{patient_id}", headers=nurse)).status_code == 200
    assert (await client.get(f"/api/v1/plans/{plan_id}", headers=nurse)).status_code == 200
    listed = (await client.get("/api/v1/patients", headers=nurse)).json()
    assert [p["id"] for p in listed["items"]] == [patient_id]


async def test_member_cannot_add_colleagues(client: Any, db: Any, login: Any) -> None:
    async with db() as s:
        lead = await make_user(s, "lead_x", discipline=Discipline.ipm_lead)
        nurse = await make_user(s, "nurse_x")
        friend = await make_user(s, "friend_x", discipline=Discipline.physical_therapist)
        patient = await make_patient(s, members=[(lead, TeamRole.lead), (nurse, TeamRole.member)])
    before = await count(db, CareTeamMember)
    r = await client.post(
        f"/api/v1/patients/{patient.id}/care-team/members",
        json={"user_id": friend.id},
        headers=await login("nurse_x"),
    )
    is_problem(r, 403)
    assert await count(db, CareTeamMember) == before


async def test_removed_member_loses_access_at_once(client: Any, db: Any, login: Any) -> None:
    patient_id, nurse_id, plan_id = await _team_world(db)
    lead = await login("lead_t")
    r = await client.post(
        f"/api/v1/patients/{patient_id}/care-team/members", json={"user_id": nurse_id}, headers=lead
    )
    member_id = next(m["id"] for m in r.json()["members"] if m["user_id"] == nurse_id)
    etag = r.headers["ETag"]
    nurse = await login("nurse_new")
    assert (await client.get(f"/api/v1/patients/{patient_id}", headers=nurse)).status_code == 200

    url = f"/api/v1/patients/{patient_id}/care-team/members/{member_id}"
    is_problem(await client.delete(url, headers=lead), 428)
    stale = is_problem(await client.delete(url, headers={**lead, "If-Match": 'W/"1"'}), 412)
    assert nurse_id in [m["user_id"] for m in stale["current"]["members"]]
    assert stale["current"]["version"] == int(etag.strip('W/"'))
    assert (await client.get(f"/api/v1/patients/{patient_id}", headers=nurse)).status_code == 200

    r = await client.delete(url, headers={**lead, "If-Match": etag})
    assert r.status_code == 200, r.text
    assert nurse_id not in [m["user_id"] for m in r.json()["members"]]
    assert (await client.get(f"/api/v1/patients/{patient_id}", headers=nurse)).status_code == 404
    assert (await client.get(f"/api/v1/plans/{plan_id}", headers=nurse)).status_code == 404
    assert (await client.get("/api/v1/patients", headers=nurse)).json()["items"] == []
    # Removing twice: the member is gone.
    is_problem(await client.delete(url, headers={**lead, "If-Match": r.headers["ETag"]}), 404)


async def test_adding_the_same_clinician_twice_is_a_conflict(client: Any, db: Any, login: Any) -> None:
    patient_id, nurse_id, _ = await _team_world(db)
    lead = await login("lead_t")
    url = f"/api/v1/patients/{patient_id}/care-team/members"
    assert (await client.post(url, json={"user_id": nurse_id}, headers=lead)).status_code == 201
    before = await count(db, CareTeamMember)
    body = is_problem(await client.post(url, json={"user_id": nurse_id}, headers=lead), 409)
    assert [e["field"] for e in body["errors"]] == ["user_id"]
    assert await count(db, CareTeamMember) == before


async def test_inactive_clinician_cannot_join_a_team(client: Any, db: Any, login: Any) -> None:
    async with db() as s:
        lead = await make_user(s, "lead_i", discipline=Discipline.ipm_lead)
        gone = await make_user(s, "nurse_gone", active=False)
        patient = await make_patient(s, members=[(lead, TeamRole.lead)])
    r = await client.post(
        f"/api/v1/patients/{patient.id}/care-team/members",
        json={"user_id": gone.id},
        headers=await login("lead_i"),
    )
    body = is_problem(r, 422)
    assert [e["field"] for e in body["errors"]] == ["user_id"]
