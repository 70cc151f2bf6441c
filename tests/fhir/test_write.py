"""FHIR R4 writes: the EMR's interface account registers patients and sends referrals for the clinicians it
names, clinicians and the EMR update with If-Match (428 without, 412 stale), a retried create with
If-None-Exist stores one, malformed resources are refused naming the element, and the interface account
reaches only the patients it registered or a lead shared with it, through FHIR only."""

from __future__ import annotations

from typing import Any

from sqlmodel import func, select

from careteam.audit.tables import AuditEntry
from careteam.core.vocab import ClinicRole, Discipline
from careteam.fhir.codes import FHIR_JSON
from careteam.patients.tables import Patient
from careteam.referrals.tables import Referral
from tests.factories import make_user
from tests.fhir.validate import check
from tests.referrals.world import World, make_world

BASE = "/fhir/R4"
MRN = "urn:careteam:mrn"
ORDERS = "urn:oid:1.2.840.114350.1.13.0.1.7.2.798268"  # an EMR's order numbers (its own system)
PSYCHOLOGIST = {"coding": [{"system": "http://snomed.info/sct", "code": "59944000"}]}


async def emr_world(client: Any, db: Any, login: Any) -> tuple[World, dict[str, str], dict[str, str]]:
    """The referral world, an EMR interface account ``emr``, and Ellen's record shared with it by the lead."""
    w = await make_world(db)
    async with db() as s:
        emr = await make_user(s, f"emr-{w.plan_id}", role=ClinicRole.integration, discipline=Discipline.nurse)
    w.ids["emr"], w.names["emr"] = emr.id or 0, emr.username
    lead = await login(w.names["lead"])
    r = await client.post(
        f"/api/v1/patients/{w.patient_id}/shares", json={"user_id": w.id("emr")}, headers=lead
    )
    assert r.status_code == 201, r.text
    return w, lead, await login(w.names["emr"])


def referral_resource(w: World, **extra: Any) -> dict[str, Any]:
    return {
        "resourceType": "ServiceRequest",
        "status": "active",
        "intent": "order",
        "priority": "urgent",
        "subject": {"reference": f"Patient/{w.patient_id}"},
        "basedOn": [{"reference": f"CarePlan/{w.plan_id}"}],
        "requester": {"reference": f"Practitioner/{w.id('physician')}"},
        "performerType": PSYCHOLOGIST,
        "reasonCode": [{"text": "Pre-SCS psychological evaluation"}],
        "identifier": [{"system": ORDERS, "value": "ORD-55231"}],
        **extra,
    }


async def send(client: Any, method: str, path: str, body: Any, h: dict[str, str], **headers: str) -> Any:
    r = await client.request(
        method,
        f"{BASE}/{path}" if path else BASE,
        json=body,
        headers={**h, "Content-Type": FHIR_JSON, **headers},
    )
    if r.content:
        assert r.headers["content-type"] == FHIR_JSON, r.text
        check(r.json())
    return r


async def test_the_emr_sends_a_referral_for_the_clinician_it_names_once(
    client: Any, db: Any, login: Any
) -> None:
    w, _, emr = await emr_world(client, db, login)
    condition = {"If-None-Exist": f"identifier={ORDERS}|ORD-55231"}
    first = await send(client, "POST", "ServiceRequest", referral_resource(w), emr, **condition)
    assert first.status_code == 201, first.text
    made = first.json()
    assert made["requester"]["reference"] == f"Practitioner/{w.id('physician')}"
    assert made["identifier"] == [{"system": ORDERS, "value": "ORD-55231"}]
    assert first.headers["Location"].endswith(f"/fhir/R4/ServiceRequest/{made['id']}/_history/1")
    assert first.headers["ETag"] == 'W/"1"'

    again = await send(client, "POST", "ServiceRequest", referral_resource(w), emr, **condition)
    assert again.status_code == 200 and again.json()["id"] == made["id"]
    async with db() as s:
        referrals = (await s.exec(select(Referral))).all()
        created = (
            await s.exec(
                select(AuditEntry).where(
                    AuditEntry.resource_type == "referral", AuditEntry.action == "create"
                )
            )
        ).all()
    assert len(referrals) == 1 and referrals[0].requester_id == w.id("physician")
    assert [a.user_id for a in created] == [w.id("emr")]  # audited as the interface account

    # The psychology pool sees it: the referral rules are the named requester's.
    pool = (await client.get("/api/v1/referrals?pool=true", headers=await login(w.names["psy1"]))).json()
    assert [r["id"] for r in pool["items"]] == [int(made["id"])]


async def test_a_referral_follows_the_referral_rules_of_its_requester(
    client: Any, db: Any, login: Any
) -> None:
    w, _, emr = await emr_world(client, db, login)
    nurse = referral_resource(w, requester={"reference": f"Practitioner/{w.id('nurse')}"})
    refused = await send(client, "POST", "ServiceRequest", nurse, emr)
    assert refused.status_code == 403, refused.text
    nobody = {k: v for k, v in referral_resource(w).items() if k != "requester"}
    r = await send(client, "POST", "ServiceRequest", nobody, emr)
    assert r.status_code == 422 and r.json()["issue"][0]["expression"] == ["ServiceRequest.requester"]
    other_plan = referral_resource(w, basedOn=[{"reference": f"CarePlan/{w.other_plan_id}"}])
    r = await send(client, "POST", "ServiceRequest", other_plan, emr)
    assert r.status_code == 422 and r.json()["issue"][0]["expression"] == ["ServiceRequest.basedOn"]
    # A clinician refers in her own name.
    physician = await login(w.names["physician"])
    mine = referral_resource(w, identifier=[])
    mine.pop("identifier")
    r = await send(client, "POST", "ServiceRequest", mine, physician)
    assert r.status_code == 201, r.text
    r = await send(
        client,
        "POST",
        "ServiceRequest",
        referral_resource(w, requester={"reference": "Practitioner/1"}),
        physician,
    )
    assert r.status_code == 422
    async with db() as s:
        assert (await s.exec(select(func.count()).select_from(Referral))).one() == 1


async def test_malformed_resources_are_refused_naming_the_element(client: Any, db: Any, login: Any) -> None:
    w, _, emr = await emr_world(client, db, login)
    cases: list[tuple[Any, int, str]] = [
        (referral_resource(w, priority=5), 422, "ServiceRequest.priority"),
        (referral_resource(w, priority="whenever"), 422, "ServiceRequest.priority"),
        (referral_resource(w, colour="red"), 422, "ServiceRequest.colour"),
        (referral_resource(w, reasonCode=[{"text": 3}]), 422, "ServiceRequest.reasonCode[0].text"),
        (referral_resource(w, reasonCode=[]), 422, "ServiceRequest.reasonCode"),
        (referral_resource(w, performerType={"text": "psychology"}), 422, "ServiceRequest.performerType"),
        (referral_resource(w, basedOn=[{"reference": "Goal/1"}]), 422, "ServiceRequest.basedOn"),
        ({"resourceType": "Patient", "birthDate": "1970-01-01"}, 422, "resourceType"),
        ([1, 2], 400, "resourceType"),
    ]
    for body, status, where in cases:
        r = await send(client, "POST", "ServiceRequest", body, emr)
        assert r.status_code == status, (body, r.text)
        assert where in r.json()["issue"][0].get("expression", [""])[0], (where, r.json())
    raw = await client.post(
        f"{BASE}/ServiceRequest", content=b"{not json", headers={**emr, "Content-Type": FHIR_JSON}
    )
    assert raw.status_code == 400 and raw.json()["resourceType"] == "OperationOutcome"
    bad_condition = await send(
        client, "POST", "ServiceRequest", referral_resource(w), emr, **{"If-None-Exist": "status=active"}
    )
    assert bad_condition.status_code == 400
    unsupported = await send(client, "POST", "Goal", {"resourceType": "Goal"}, emr)
    assert unsupported.status_code == 405
    async with db() as s:
        assert (await s.exec(select(func.count()).select_from(Referral))).one() == 0


async def test_the_emr_registers_a_patient_once_and_corrects_her_with_if_match(
    client: Any, db: Any, login: Any
) -> None:
    w, _, emr = await emr_world(client, db, login)
    body = {
        "resourceType": "Patient",
        "identifier": [{"system": MRN, "value": "IPM-300777"}],
        "name": [{"family": "Okafor", "given": ["Grace"]}],
        "birthDate": "1959-06-02",
    }
    condition = {"If-None-Exist": f"identifier={MRN}|IPM-300777"}
    r = await send(client, "POST", "Patient", body, emr, **condition)
    assert r.status_code == 201, r.text
    patient = r.json()
    assert patient["name"] == [{"text": "Grace Okafor"}] and patient["meta"]["versionId"] == "1"
    again = await send(client, "POST", "Patient", body, emr, **condition)
    assert again.status_code == 200 and again.json()["id"] == patient["id"]
    async with db() as s:
        assert (
            await s.exec(select(func.count()).select_from(Patient).where(Patient.mrn == "IPM-300777"))
        ).one() == 1

    path = f"Patient/{patient['id']}"
    fixed = {**body, "id": patient["id"], "name": [{"text": "Grace A. Okafor"}]}
    assert (await send(client, "PUT", path, fixed, emr)).status_code == 428
    assert (await send(client, "PUT", path, fixed, emr, **{"If-Match": "3"})).status_code == 400
    ok = await send(client, "PUT", path, fixed, emr, **{"If-Match": 'W/"1"', "Prefer": "return=minimal"})
    assert ok.status_code == 200 and ok.content == b"" and ok.headers["ETag"] == 'W/"2"'
    stale = await send(
        client, "PUT", path, {**fixed, "birthDate": "1959-06-03"}, emr, **{"If-Match": 'W/"1"'}
    )
    assert stale.status_code == 412 and stale.json()["issue"][0]["code"] == "conflict"
    moved = {**fixed, "identifier": [{"system": MRN, "value": "IPM-300778"}]}
    r = await send(client, "PUT", path, moved, emr, **{"If-Match": 'W/"2"'})
    assert r.status_code == 422 and r.json()["issue"][0]["expression"] == ["Patient.identifier"]
    wrong_id = await send(client, "PUT", path, {**fixed, "id": "999"}, emr, **{"If-Match": 'W/"2"'})
    assert wrong_id.status_code == 400
    read = (await client.get(f"{BASE}/{path}", headers=emr)).json()
    assert read["name"] == [{"text": "Grace A. Okafor"}] and read["meta"]["versionId"] == "2"

    # Another team's patient is not the EMR's to read or write.
    lead = await login(w.names["outsider"])
    assert (await client.get(f"{BASE}/{path}", headers=lead)).status_code == 404
    other = await send(
        client,
        "PUT",
        f"Patient/{w.patient_id}",
        {**fixed, "id": str(w.patient_id)},
        await login(w.names["outsider"]),
        **{"If-Match": 'W/"1"'},
    )
    assert other.status_code == 404


async def test_the_emr_moves_a_task_with_if_match(client: Any, db: Any, login: Any) -> None:
    w, lead, emr = await emr_world(client, db, login)
    made = await client.post(
        f"/api/v1/plans/{w.plan_id}/tasks",
        json={"title": "UDS due", "discipline": "nurse", "status": "ready"},
        headers=lead,
    )
    task = (await client.get(f"{BASE}/Task/{made.json()['id']}", headers=emr)).json()
    path = f"Task/{task['id']}"
    started = {**task, "status": "in-progress"}
    assert (await send(client, "PUT", path, started, emr)).status_code == 428
    r = await send(client, "PUT", path, started, emr, **{"If-Match": 'W/"1"'})
    assert r.status_code == 200, r.text
    assert (r.json()["status"], r.json()["businessStatus"]["coding"][0]["code"]) == (
        "in-progress",
        "in_progress",
    )
    done = {**task, "status": "completed"}
    assert (await send(client, "PUT", path, done, emr, **{"If-Match": 'W/"1"'})).status_code == 412
    r = await send(client, "PUT", path, done, emr, **{"If-Match": 'W/"2"'})
    assert r.status_code == 200 and r.json()["meta"]["versionId"] == "3", r.text
    back = await send(client, "PUT", path, {**task, "status": "requested"}, emr, **{"If-Match": 'W/"3"'})
    assert back.status_code == 409 and back.json()["issue"][0]["code"] == "conflict"
    # The board shows the move as any other: one task.moved event on the plan's stream.
    board = (await client.get(f"/api/v1/plans/{w.plan_id}/tasks", headers=lead)).json()
    assert [t["status"] for t in board["items"]] == ["completed"]


async def test_the_interface_account_works_through_fhir_only_and_on_shared_patients(
    client: Any, db: Any, login: Any
) -> None:
    w, lead, emr = await emr_world(client, db, login)
    api = await client.get(f"/api/v1/patients/{w.patient_id}", headers=emr)
    assert api.status_code == 403 and "FHIR" in api.json()["detail"]
    page = await client.post("/login", data={"username": w.names["emr"], "password": "x"})
    assert page.status_code in (401, 403)
    assert (await client.get(f"{BASE}/Patient/{w.patient_id}", headers=emr)).status_code == 200
    everything = (await client.get(f"{BASE}/Patient/{w.patient_id}/$everything", headers=emr)).json()
    assert {"Patient", "CareTeam", "CarePlan"} <= {e["resource"]["resourceType"] for e in everything["entry"]}
    # Sharing is for those who manage the team, and with interface accounts only.
    nurse = await login(w.names["nurse"])
    r = await client.post(
        f"/api/v1/patients/{w.patient_id}/shares", json={"user_id": w.id("emr")}, headers=nurse
    )
    assert r.status_code == 403
    r = await client.post(
        f"/api/v1/patients/{w.patient_id}/shares", json={"user_id": w.id("nurse")}, headers=lead
    )
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "user_id"
    shares = (await client.get(f"/api/v1/patients/{w.patient_id}/shares", headers=lead)).json()
    assert [s["user_id"] for s in shares] == [w.id("emr")]
    # Taken back: the patient is another's again.
    assert (
        await client.delete(f"/api/v1/patients/{w.patient_id}/shares/{w.id('emr')}", headers=lead)
    ).status_code == 204
    assert (await client.get(f"{BASE}/Patient/{w.patient_id}", headers=emr)).status_code == 404
    assert (await client.get(f"{BASE}/CarePlan/{w.plan_id}", headers=emr)).status_code == 404
