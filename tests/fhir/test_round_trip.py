"""A patient's record leaves as FHIR and comes back whole: export ``$everything``, import its Patient,
CareTeam, CarePlan, Goal, Task and ServiceRequest as one transaction Bundle into a fresh instance that has
the same clinicians (with other ids), export again: equal but for ids and meta. An import that names an
unknown clinician is refused whole, the entry named."""

from __future__ import annotations

import re
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlmodel import func, select

from careteam.accounts.tables import User
from careteam.app import create_app
from careteam.core.vocab import ClinicRole, Discipline
from careteam.db.engine import unit_of_work
from careteam.fhir.codes import FHIR_JSON, USERNAME
from careteam.patients.tables import Patient
from careteam.settings import Settings
from tests.factories import PASSWORD, make_user
from tests.fhir.validate import check
from tests.referrals.world import World, make_world

IMPORTED = ("Patient", "CareTeam", "CarePlan", "Goal", "Task", "ServiceRequest")
_REF = re.compile(r"^([A-Za-z]+)/([0-9]+)$")


async def token(client: httpx.AsyncClient, username: str) -> dict[str, str]:
    r = await client.post("/api/v1/auth/token", json={"username": username, "password": PASSWORD})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


async def fill_record(client: Any, w: World, lead: dict[str, str], login: Any) -> None:
    """Ellen's plan as a clinic keeps it: goals, tasks in every column (one cancelled with its reason), a
    referral waiting for psychology."""
    plan = w.plan_id
    for goal in (
        {
            "description": "PEG from 7 to 4 or less in 12 weeks",
            "target": "PEG <= 4",
            "due_date": "2027-02-15",
            "measure_target": {"measure": "peg", "comparator": "<=", "value": 4},
        },
        {"description": "Walk 30 minutes daily", "lifecycle_status": "accepted"},
    ):
        assert (await client.post(f"/api/v1/plans/{plan}/goals", json=goal, headers=lead)).status_code == 201
    nurse = await login(w.names["nurse"])
    tasks = [
        ({"title": "Review lumbar MRI", "discipline": "physician", "priority": "urgent"}, lead, []),
        ({"title": "UDS due", "discipline": "nurse", "due_date": "2026-12-20", "status": "ready"}, nurse, []),
        (
            {
                "title": "PDMP check",
                "discipline": "nurse",
                "assignee_id": w.id("nurse"),
                "status": "in-progress",
            },
            nurse,
            ["completed"],
        ),
        (
            {"title": "Education: flare-up plan", "discipline": "nurse", "description": "Leaflet and call"},
            lead,
            [],
        ),
        ({"title": "Opioid agreement renewal", "discipline": "nurse"}, lead, ["cancelled"]),
    ]
    for body, h, moves in tasks:
        r = await client.post(f"/api/v1/plans/{plan}/tasks", json=body, headers=h)
        assert r.status_code == 201, r.text
        task = r.json()
        for status in moves:
            change: dict[str, Any] = {"status": status}
            if status == "cancelled":
                change["status_reason"] = "Agreement renewed at the pain clinic visit"
            r = await client.patch(
                f"/api/v1/tasks/{task['id']}",
                json=change,
                headers={**lead, "If-Match": f'W/"{task["version"]}"'},
            )
            assert r.status_code == 200, r.text
            task = r.json()
    referral = {"plan_id": plan, "discipline": "psychologist", "reason": "Pre-SCS psychological evaluation"}
    assert (await client.post("/api/v1/referrals", json=referral, headers=lead)).status_code == 201


def as_transaction(everything: dict[str, Any]) -> dict[str, Any]:
    """The export's record as a transaction Bundle: each resource POSTed under a urn:uuid fullUrl, its
    references rewritten to those fullUrls, without id and meta."""
    resources = [
        e["resource"]
        for e in everything["entry"]
        if e["resource"]["resourceType"] in (*IMPORTED, "Practitioner")
    ]
    urls = {
        f"{r['resourceType']}/{r['id']}": f"urn:uuid:{r['resourceType'].lower()}-{r['id']}" for r in resources
    }

    def rewrite(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: urls.get(v, v) if isinstance(v, str) else rewrite(v) for k, v in value.items()}
        if isinstance(value, list):
            return [rewrite(v) for v in value]
        return value

    entries = []
    for r in resources:
        body = rewrite({k: v for k, v in r.items() if k not in ("id", "meta")})
        entries.append(
            {
                "fullUrl": urls[f"{r['resourceType']}/{r['id']}"],
                "resource": body,
                "request": {"method": "POST", "url": r["resourceType"]},
            }
        )
    return {"resourceType": "Bundle", "type": "transaction", "entry": entries}


def normalised(everything: dict[str, Any]) -> list[dict[str, Any]]:
    """The record's imported kinds without ids and meta: each reference as the referred resource's place
    in the export (a Practitioner: its username)."""
    resources = [e["resource"] for e in everything["entry"]]
    keys: dict[str, str] = {}
    counts: dict[str, int] = {}
    for r in resources:
        kind = r["resourceType"]
        if kind == "Practitioner":
            username = next(i["value"] for i in r["identifier"] if i["system"] == USERNAME)
            keys[f"{kind}/{r['id']}"] = f"{kind}:{username}"
        else:
            counts[kind] = counts.get(kind, 0) + 1
            keys[f"{kind}/{r['id']}"] = f"{kind}:{counts[kind]}"

    def rewrite(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: keys.get(v, v) if isinstance(v, str) else rewrite(v) for k, v in value.items()}
        if isinstance(value, list):
            return [rewrite(v) for v in value]
        return value

    return [
        rewrite({k: v for k, v in r.items() if k not in ("id", "meta")})
        for r in resources
        if r["resourceType"] in IMPORTED
    ]


async def clinicians(db: Any) -> list[User]:
    async with db() as s:
        return list((await s.exec(select(User))).all())


@asynccontextmanager
async def fresh_instance(
    settings: Settings, sqlite_template: Path, tmp_path: Path, people: list[User]
) -> AsyncIterator[httpx.AsyncClient]:
    """Another careteam, with its own empty database and the same clinicians (made in another order, so
    their ids differ), plus its EMR interface account ``emr``."""
    path = tmp_path / "fresh.db"
    shutil.copyfile(sqlite_template, path)
    app = create_app(settings.model_copy(update={"database_url": f"sqlite+aiosqlite:///{path}"}))
    async with app.router.lifespan_context(app):
        async with unit_of_work(app.state.sessions) as s:
            await make_user(s, "somebody-else", discipline=Discipline.social_worker)
            for person in sorted(people, key=lambda p: p.username, reverse=True):
                user = await make_user(s, person.username, discipline=Discipline(person.discipline))
                user.display_name = person.display_name
            await make_user(s, "emr", role=ClinicRole.integration, discipline=Discipline.nurse)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as fresh:
            yield fresh


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_a_record_exported_and_imported_comes_back_equal(
    client: Any, db: Any, login: Any, settings: Settings, sqlite_template: Path, tmp_path: Path
) -> None:
    w = await make_world(db)
    lead = await login(w.names["lead"])
    await fill_record(client, w, lead, login)
    exported = (await client.get(f"/fhir/R4/Patient/{w.patient_id}/$everything", headers=lead)).json()
    check(exported)
    bundle = as_transaction(exported)
    assert {e["resource"]["resourceType"] for e in bundle["entry"]} == {*IMPORTED, "Practitioner"}

    async with fresh_instance(settings, sqlite_template, tmp_path, await clinicians(db)) as fresh:
        emr = await token(fresh, "emr")
        r = await fresh.post("/fhir/R4", json=bundle, headers={**emr, "Content-Type": FHIR_JSON})
        assert r.status_code == 200, r.text
        answer = r.json()
        check(answer)
        assert answer["type"] == "transaction-response"
        statuses = [e["response"]["status"] for e in answer["entry"]]
        assert len(statuses) == len(bundle["entry"]) and "201 Created" in statuses
        patient_id = next(
            e["response"]["location"].split("/")[1]
            for e in answer["entry"]
            if e["response"]["location"].startswith("Patient/")
        )
        again = (
            await fresh.get(
                f"/fhir/R4/Patient/{patient_id}/$everything", headers=await token(fresh, w.names["lead"])
            )
        ).json()
        check(again)
    assert normalised(again) == normalised(exported)


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_an_import_naming_an_unknown_clinician_stores_nothing(
    client: Any, db: Any, login: Any, settings: Settings, sqlite_template: Path, tmp_path: Path
) -> None:
    w = await make_world(db)
    lead = await login(w.names["lead"])
    await fill_record(client, w, lead, login)
    exported = (await client.get(f"/fhir/R4/Patient/{w.patient_id}/$everything", headers=lead)).json()
    bundle = as_transaction(exported)
    # The fresh instance lacks the nurse: her Practitioner entry cannot be matched.
    others = [u for u in await clinicians(db) if u.username != w.names["nurse"]]
    async with fresh_instance(settings, sqlite_template, tmp_path, others) as fresh:
        emr = await token(fresh, "emr")
        r = await fresh.post("/fhir/R4", json=bundle, headers={**emr, "Content-Type": FHIR_JSON})
        assert r.status_code == 422, r.text
        issue = r.json()["issue"][0]
        nurse_entry = next(
            n
            for n, e in enumerate(bundle["entry"])
            if e["resource"]["resourceType"] == "Practitioner"
            and e["resource"]["identifier"][0]["value"] == w.names["nurse"]
        )
        assert issue["expression"] == [f"Bundle.entry[{nurse_entry}].resource.Practitioner.identifier"]
        # A clinician cannot import, and a bundle of another type is refused.
        r = await fresh.post(
            "/fhir/R4",
            json=bundle,
            headers={**await token(fresh, w.names["lead"]), "Content-Type": FHIR_JSON},
        )
        assert r.status_code == 403
        r = await fresh.post(
            "/fhir/R4", json={**bundle, "type": "batch"}, headers={**emr, "Content-Type": FHIR_JSON}
        )
        assert r.status_code == 400 and r.json()["issue"][0]["expression"] == ["Bundle.type"]
        fresh_app = fresh._transport.app  # type: ignore[attr-defined]
        async with unit_of_work(fresh_app.state.sessions) as s:
            assert (await s.exec(select(func.count()).select_from(Patient))).one() == 0
