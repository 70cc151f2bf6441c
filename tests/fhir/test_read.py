"""FHIR R4 reads: every resource type a care team's record holds, read by id and searched within the
patient, valid against fhir.resources' R4B models; another team's resources are not found; errors are
OperationOutcomes; the CapabilityStatement lists exactly what answers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from sqlmodel import select

from careteam import demo
from careteam.audit.tables import AuditEntry
from careteam.core.vocab import ClinicRole, Discipline
from careteam.fhir.codes import FHIR_JSON, RESOURCES
from careteam.patients.tables import CareTeam, Patient
from careteam.settings import Settings
from tests.factories import make_user
from tests.fhir.validate import check
from tests.referrals.world import World, make_world

BASE = "/fhir/R4"


@dataclass
class Filled:
    """A world whose plan holds one of each: goal, tasks (one from a referral), message, comment, score."""

    world: World
    ids: dict[str, int]


async def fill(client: Any, db: Any, login: Any) -> tuple[Filled, dict[str, str]]:
    w = await make_world(db)
    h = await login(w.names["lead"])
    plan = w.plan_id
    goal = await client.post(
        f"/api/v1/plans/{plan}/goals",
        json={
            "description": "PEG from 7 to 4 or less in 12 weeks",
            "target": "PEG <= 4",
            "due_date": "2027-02-15",
        },
        headers=h,
    )
    task = await client.post(
        f"/api/v1/plans/{plan}/tasks",
        json={
            "title": "Review lumbar MRI",
            "discipline": "physician",
            "priority": "urgent",
            "due_date": "2026-12-20",
        },
        headers=h,
    )
    referral = await client.post(
        "/api/v1/referrals",
        json={
            "plan_id": plan,
            "discipline": "psychologist",
            "reason": "CBT for pain catastrophising (PCS 34)",
        },
        headers=h,
    )
    message = await client.post(
        f"/api/v1/plans/{plan}/messages", json={"body": "@team conference Thursday"}, headers=h
    )
    comment = await client.post(
        f"/api/v1/tasks/{task.json()['id']}/messages", json={"body": "MRI report uploaded"}, headers=h
    )
    score = await client.post(
        f"/api/v1/plans/{plan}/measures", json={"measure": "peg", "items": [7, 6, 8]}, headers=h
    )
    made = {
        "goal": goal,
        "task": task,
        "referral": referral,
        "message": message,
        "comment": comment,
        "score": score,
    }
    for name, r in made.items():
        assert r.status_code == 201, (name, r.text)
    ids = {name: r.json()["id"] for name, r in made.items()}
    async with db() as s:
        ids["team"] = (await s.exec(select(CareTeam.id).where(CareTeam.patient_id == w.patient_id))).one()
    return Filled(w, ids), h


async def fhir_get(client: Any, path: str, h: dict[str, str] | None = None) -> Any:
    r = await client.get(f"{BASE}/{path}", headers=h or {})
    assert r.headers["content-type"] == FHIR_JSON, (path, r.status_code, r.text)
    return r


async def test_each_type_reads_by_id_validates_and_carries_its_version(
    client: Any, db: Any, login: Any
) -> None:
    f, h = await fill(client, db, login)
    w = f.world
    reads = {
        "Patient": w.patient_id,
        "Practitioner": w.id("nurse"),
        "CareTeam": f.ids["team"],
        "CarePlan": w.plan_id,
        "Goal": f.ids["goal"],
        "Task": f.ids["task"],
        "ServiceRequest": f.ids["referral"],
        "Communication": f.ids["message"],
        "Observation": f.ids["score"],
    }
    assert set(reads) == {r.type for r in RESOURCES} - {"AuditEvent"}  # the administrators': its own test
    found = {}
    for kind, ident in reads.items():
        r = await fhir_get(client, f"{kind}/{ident}", h)
        assert r.status_code == 200, (kind, r.text)
        body = r.json()
        check(body)
        assert (body["resourceType"], body["id"]) == (kind, str(ident))
        if "meta" in body:
            assert r.headers["ETag"] == f'W/"{body["meta"]["versionId"]}"'
        found[kind] = body

    plan = found["CarePlan"]
    assert plan["subject"] == {"reference": f"Patient/{w.patient_id}"} and plan["intent"] == "plan"
    assert plan["careTeam"] == [{"reference": f"CareTeam/{f.ids['team']}"}]
    assert {"reference": f"Goal/{f.ids['goal']}"} in plan["goal"]
    assert {"reference": {"reference": f"Task/{f.ids['task']}"}} in plan["activity"]
    task = found["Task"]
    assert (task["status"], task["priority"], task["intent"]) == ("requested", "urgent", "plan")
    assert task["businessStatus"]["coding"][0]["code"] == "todo"
    assert task["performerType"][0]["coding"][0] == {
        "system": "http://snomed.info/sct",
        "code": "309343006",
        "display": "Physician",
    }
    assert task["restriction"]["period"]["end"] == "2026-12-20"
    team = found["CareTeam"]
    lead = next(p for p in team["participant"] if p["member"]["reference"] == f"Practitioner/{w.id('lead')}")
    assert [c["coding"][0]["code"] for c in lead["role"]] == ["ipm-lead", "team-lead"]
    sr = found["ServiceRequest"]
    assert (sr["status"], sr["intent"], sr["requester"]["reference"]) == (
        "active",
        "order",
        f"Practitioner/{w.id('lead')}",
    )
    obs = found["Observation"]
    assert obs["valueQuantity"]["value"] == 7.0 and len(obs["component"]) == 3
    assert found["Goal"]["target"] == [{"measure": {"text": "PEG <= 4"}, "dueDate": "2027-02-15"}]
    assert found["Patient"]["identifier"][0] == {
        "use": "usual",
        "system": "urn:careteam:mrn",
        "value": found["Patient"]["identifier"][0]["value"],
    }


async def test_another_teams_resources_are_not_found_and_searches_find_nothing(
    client: Any, db: Any, login: Any
) -> None:
    f, _ = await fill(client, db, login)
    w = f.world
    outsider = await login(w.names["outsider"])
    for kind, ident in [
        ("Patient", w.patient_id),
        ("CareTeam", f.ids["team"]),
        ("CarePlan", w.plan_id),
        ("Goal", f.ids["goal"]),
        ("Task", f.ids["task"]),
        ("ServiceRequest", f.ids["referral"]),
        ("Communication", f.ids["message"]),
        ("Observation", f.ids["score"]),
    ]:
        r = await fhir_get(client, f"{kind}/{ident}", outsider)
        assert r.status_code == 404, (kind, r.text)
        check(r.json())
        assert r.json()["issue"][0]["code"] == "not-found"
        param = "_id" if kind == "Patient" else "patient"
        search = await fhir_get(client, f"{kind}?{param}={w.patient_id}", outsider)
        assert search.status_code == 200 and search.json()["total"] == 0, (kind, search.text)
    everything = await fhir_get(client, f"Patient/{w.patient_id}/$everything", outsider)
    assert everything.status_code == 404


async def test_errors_are_operation_outcomes_naming_what_is_wrong(client: Any, db: Any, login: Any) -> None:
    f, h = await fill(client, db, login)
    unsigned = await fhir_get(client, f"Patient/{f.world.patient_id}")
    assert unsigned.status_code == 401 and unsigned.json()["issue"][0]["code"] == "login"
    cases = [
        ("Medication/1", 404, None),
        ("Task/abc", 404, None),
        ("Task/99999999999", 404, None),
        ("Task?colour=red&patient=1", 400, "colour"),
        ("Task", 400, "patient"),
        ("Task?patient=Group/1", 400, "patient"),
        ("Task?patient=1&_count=many", 400, "_count"),
        ("Task?patient=1&_count=1000", 400, "_count"),
        ("Task?patient=1&status=ready&status=completed", 400, "status"),
        ("Practitioner", 400, "_id"),
    ]
    for path, status, where in cases:
        r = await fhir_get(client, path, h)
        assert r.status_code == status, (path, r.text)
        body = r.json()
        check(body)
        if where is not None:
            assert body["issue"][0]["expression"] == [where], (path, body)


async def test_search_filters_pages_with_next_links_and_includes(client: Any, db: Any, login: Any) -> None:
    f, h = await fill(client, db, login)
    w, plan = f.world, f.world.plan_id
    for n in range(4):
        r = await client.post(
            f"/api/v1/plans/{plan}/tasks",
            json={"title": f"PT session {n}", "discipline": "physical_therapist", "status": "ready"},
            headers=h,
        )
        assert r.status_code == 201
    expected = (await client.get(f"/api/v1/plans/{plan}/tasks", headers=h)).json()["total"]
    every = (await fhir_get(client, f"Task?patient={w.patient_id}", h)).json()
    check(every)
    assert every["type"] == "searchset" and every["total"] == expected >= 5
    assert {e["search"]["mode"] for e in every["entry"]} == {"match"}

    ready = (await fhir_get(client, f"Task?patient=Patient/{w.patient_id}&status=ready", h)).json()
    assert ready["total"] == 4 and {e["resource"]["status"] for e in ready["entry"]} == {"ready"}

    # Pages of two, following next links to the end: each task once.
    seen: list[str] = []
    url: str | None = f"{BASE}/Task?patient={w.patient_id}&_count=2"
    while url is not None:
        page = (await client.get(url, headers=h)).json()
        check(page)
        assert len(page["entry"]) <= 2 and page["total"] == expected
        seen += [e["resource"]["id"] for e in page["entry"]]
        url = next((link["url"] for link in page["link"] if link["relation"] == "next"), None)
    assert sorted(seen) == sorted(e["resource"]["id"] for e in every["entry"]) and len(seen) == len(set(seen))

    scores = (
        await fhir_get(client, f"Observation?subject={w.patient_id}&code=urn:careteam:measure|peg-3", h)
    ).json()
    assert [e["resource"]["id"] for e in scores["entry"]] == [str(f.ids["score"])]
    assert (await fhir_get(client, f"Observation?subject={w.patient_id}&code=72514-3", h)).json()[
        "total"
    ] == 0
    surveys = (await fhir_get(client, f"Observation?patient={w.patient_id}&category=survey", h)).json()
    assert surveys["total"] == 1
    labs = (await fhir_get(client, f"Observation?patient={w.patient_id}&category=laboratory", h)).json()
    assert labs["total"] == 0

    with_tasks = (
        await fhir_get(client, f"CarePlan?patient={w.patient_id}&_include=CarePlan:activity", h)
    ).json()
    check(with_tasks)
    modes = [(e["resource"]["resourceType"], e["search"]["mode"]) for e in with_tasks["entry"]]
    assert modes.count(("CarePlan", "match")) == 1 and modes.count(("Task", "include")) == expected

    # A task made by accepting the referral is based on it: Task -> ServiceRequest.
    psy = await login(w.names["psy1"])
    accepted = await client.post(
        f"/api/v1/referrals/{f.ids['referral']}/accept", headers={**psy, "If-Match": 'W/"1"'}
    )
    assert accepted.status_code == 200, accepted.text
    from_referral = accepted.json()["task_ids"][0]
    both = (
        await fhir_get(client, f"Task?_id={from_referral}&_include=Task:based-on:ServiceRequest", h)
    ).json()
    check(both)
    assert [(e["resource"]["resourceType"], e["search"]["mode"]) for e in both["entry"]] == [
        ("Task", "match"),
        ("ServiceRequest", "include"),
    ]


async def test_reads_are_audited_as_the_json_apis_are(client: Any, db: Any, login: Any) -> None:
    f, h = await fill(client, db, login)
    async with db() as s:
        before = len((await s.exec(select(AuditEntry).where(AuditEntry.action == "read"))).all())
    for path in (
        f"Task/{f.ids['task']}",
        f"Observation/{f.ids['score']}",
        f"Communication/{f.ids['message']}",
    ):
        assert (await fhir_get(client, path, h)).status_code == 200
    await fhir_get(client, f"Patient/{f.world.patient_id}/$everything", h)
    async with db() as s:
        reads = (await s.exec(select(AuditEntry).where(AuditEntry.action == "read"))).all()[before:]
    kinds = {(a.resource_type, str(a.resource_id)) for a in reads}
    assert {
        ("task", str(f.ids["task"])),
        ("observation", str(f.ids["score"])),
        ("message", str(f.ids["message"])),
    } <= kinds
    assert {"patient", "care_team", "care_plan"} <= {a.resource_type for a in reads}
    assert {a.patient_id for a in reads} == {f.world.patient_id}


async def test_the_capability_statement_lists_exactly_what_answers(client: Any, db: Any, login: Any) -> None:
    f, h = await fill(client, db, login)
    r = await fhir_get(client, "metadata")
    assert r.status_code == 200
    statement = r.json()
    check(statement)
    assert statement["fhirVersion"] == "4.0.1" and statement["kind"] == "instance"
    listed = {res["type"]: res for res in statement["rest"][0]["resource"]}
    assert set(listed) == {r.type for r in RESOURCES}
    async with db() as s:
        await make_user(s, "fhir-admin", role=ClinicRole.admin, discipline=Discipline.ipm_lead)
    admin = await login("fhir-admin")
    for kind, res in listed.items():
        if kind == "AuditEvent":
            h_kind, scope = admin, f"patient={f.world.patient_id}&"
        else:
            h_kind = h
            scope = "" if kind in ("Patient", "Practitioner") else f"patient={f.world.patient_id}&"
        interactions = {i["code"] for i in res["interaction"]}
        assert {"read", "search-type"} <= interactions
        # A create or update it lists is taken (an empty body is refused as such, not as unsupported);
        # one it does not list is 405.
        post = await client.post(f"{BASE}/{kind}", content=b"{}", headers=h_kind)
        put = await client.put(f"{BASE}/{kind}/1", content=b"{}", headers={**h_kind, "If-Match": 'W/"1"'})
        assert (post.status_code == 405) is ("create" not in interactions), (kind, post.text)
        assert (put.status_code == 405) is ("update" not in interactions), (kind, put.text)
        params = {p["name"] for p in res["searchParam"]} - {"_count"}
        for name in params - {"patient", "subject"}:
            # each listed parameter is taken (an unknown one is refused: see the errors test)
            value = "ge2000-01-01" if name == "_lastUpdated" else "1"
            probe = await fhir_get(client, f"{kind}?{scope}{name}={value}", h_kind)
            assert probe.status_code == 200, (kind, name, probe.text)
        for include in res.get("searchInclude", []):
            probe = await fhir_get(client, f"{kind}?{scope or '_id=1&'}_include={include}", h_kind)
            assert probe.status_code == 200, (kind, include, probe.text)
    assert listed["Patient"]["operation"][0]["name"] == "everything"
    assert statement["rest"][0]["interaction"] == [{"code": "transaction"}]


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_the_whole_demo_exports_and_validates(
    settings: Settings, client: Any, db: Any, login: Any
) -> None:
    """$everything for every demo patient, read by a clinician on her team: every resource valid, and the
    export holds every kind of resource the record has."""
    await demo.seed(settings, password="demo-password")
    kinds: set[str] = set()
    async with db() as s:
        patients = (await s.exec(select(Patient.id))).all()
    h = await login("lead", "demo-password")
    for patient_id in patients:
        r = await fhir_get(client, f"Patient/{patient_id}/$everything", h)
        assert r.status_code == 200, r.text
        bundle = r.json()
        check(bundle)
        found = [e["resource"] for e in bundle["entry"]]
        assert bundle["total"] == len(found) and found[0]["resourceType"] == "Patient"
        refs = {f"{x['resourceType']}/{x['id']}" for x in found}
        for resource in found:
            for ref in _references(resource):
                assert ref in refs, (ref, resource["resourceType"])  # the export is whole
        kinds |= {x["resourceType"] for x in found}
    assert {
        "Patient",
        "Practitioner",
        "CareTeam",
        "CarePlan",
        "Goal",
        "Task",
        "ServiceRequest",
        "Communication",
        "Observation",
    } <= kinds


def _references(value: Any) -> list[str]:
    """Every ``reference`` string inside a resource."""
    if isinstance(value, dict):
        found = [value["reference"]] if isinstance(value.get("reference"), str) else []
        return found + [r for v in value.values() for r in _references(v)]
    if isinstance(value, list):
        return [r for v in value for r in _references(v)]
    return []


async def test_a_tasks_versions_are_read_from_the_plans_log(client: Any, db: Any, login: Any) -> None:
    f, h = await fill(client, db, login)
    task_id = f.ids["task"]
    for version, status in ((1, "ready"), (2, "in-progress")):
        r = await client.patch(
            f"/api/v1/tasks/{task_id}", json={"status": status}, headers={**h, "If-Match": f'W/"{version}"'}
        )
        assert r.status_code == 200, r.text
    r = await fhir_get(client, f"Task/{task_id}/_history", h)
    assert r.status_code == 200, r.text
    bundle = r.json()
    check(bundle)
    assert bundle["type"] == "history"
    assert [(e["resource"]["meta"]["versionId"], e["resource"]["status"]) for e in bundle["entry"]] == [
        ("3", "in-progress"),
        ("2", "ready"),
        ("1", "requested"),
    ]
    assert [e["request"]["method"] for e in bundle["entry"]] == ["PUT", "PUT", "POST"]
    first = await fhir_get(client, f"Task/{task_id}/_history/1", h)
    assert (
        first.status_code == 200
        and first.json()["status"] == "requested"
        and first.headers["ETag"] == 'W/"1"'
    )
    assert (await fhir_get(client, f"Task/{task_id}/_history/9", h)).status_code == 404
    # A goal, a referral, a score: their first version; a patient: her current one.
    for kind, ident in (
        ("Goal", f.ids["goal"]),
        ("ServiceRequest", f.ids["referral"]),
        ("Observation", f.ids["score"]),
    ):
        versions = (await fhir_get(client, f"{kind}/{ident}/_history", h)).json()
        check(versions)
        assert [e["resource"]["meta"]["versionId"] for e in versions["entry"]] == ["1"], kind
    patient = (await fhir_get(client, f"Patient/{f.world.patient_id}/_history", h)).json()
    assert [e["resource"]["resourceType"] for e in patient["entry"]] == ["Patient"]
    outsider = await login(f.world.names["outsider"])
    assert (await fhir_get(client, f"Task/{task_id}/_history", outsider)).status_code == 404
    assert (await fhir_get(client, f"Task/{task_id}/_history/1", outsider)).status_code == 404


async def test_administrators_read_the_audit_trail_as_audit_events(client: Any, db: Any, login: Any) -> None:
    f, h = await fill(client, db, login)
    await fhir_get(client, f"Task/{f.ids['task']}", h)
    async with db() as s:
        await make_user(s, "trail-admin", role=ClinicRole.admin, discipline=Discipline.ipm_lead)
    admin = await login("trail-admin")
    r = await fhir_get(client, f"AuditEvent?patient={f.world.patient_id}&_count=5", admin)
    assert r.status_code == 200, r.text
    page = r.json()
    check(page)
    assert len(page["entry"]) == 5 and page["total"] > 5
    assert any(link["relation"] == "next" for link in page["link"])
    newest = page["entry"][0]["resource"]
    assert newest["action"] == "R" and newest["outcome"] == "0"
    assert {"what": {"reference": f"Patient/{f.world.patient_id}"}} in newest["entity"]
    by_lead = (await fhir_get(client, f"AuditEvent?agent=Practitioner/{f.world.id('lead')}", admin)).json()
    assert by_lead["total"] > 0
    assert all(
        e["resource"]["agent"][0]["who"]["reference"] == f"Practitioner/{f.world.id('lead')}"
        for e in by_lead["entry"]
    )
    one = await fhir_get(client, f"AuditEvent/{newest['id']}", admin)
    assert one.status_code == 200 and one.json() == newest
    # The trail is the administrators': a clinician is refused.
    assert (await fhir_get(client, f"AuditEvent?patient={f.world.patient_id}", h)).status_code == 403
    assert (await fhir_get(client, f"AuditEvent/{newest['id']}", h)).status_code == 403


async def test_searches_by_last_updated_from_the_plans_log(client: Any, db: Any, login: Any) -> None:
    f, h = await fill(client, db, login)
    p = f.world.patient_id
    every = (await fhir_get(client, f"Task?patient={p}", h)).json()
    stamps = [e["resource"]["meta"]["lastUpdated"] for e in every["entry"]]
    assert stamps and all(stamps)
    since = (await fhir_get(client, f"Task?patient={p}&_lastUpdated=ge2000-01-01", h)).json()
    assert since["total"] == every["total"]
    assert (await fhir_get(client, f"Task?patient={p}&_lastUpdated=lt2000-01-01", h)).json()["total"] == 0
    # Two bounds: a range that holds the newest change exactly.
    newest = max(stamps)
    ranged = await fhir_get(client, f"Task?patient={p}&_lastUpdated=ge{newest}&_lastUpdated=le{newest}", h)
    assert ranged.json()["total"] >= 1
    assert all(e["resource"]["meta"]["lastUpdated"] == newest for e in ranged.json()["entry"])
    everything = (await fhir_get(client, f"Patient/{p}/$everything", h)).json()
    planned = [
        e["resource"]
        for e in everything["entry"]
        # (the world's plan itself was made by a factory, with no event: it has none)
        if e["resource"]["resourceType"] in ("Goal", "Task", "ServiceRequest", "Observation")
    ]
    assert planned and all("lastUpdated" in r["meta"] for r in planned)
    for bad in ("yesterday", "ge2026-13-01", "2026-12-01T10:00"):
        r = await fhir_get(client, f"Task?patient={p}&_lastUpdated={bad}", h)
        assert r.status_code == 400 and r.json()["issue"][0]["expression"] == ["_lastUpdated"], bad
