"""Medications over the JSON API: the plan's prescribers and reviewers add and change them (If-Match), the
whole care team reads them with the plan's MME/day, other teams see nothing, each write is one event on
the plan's stream; a safety change posts an urgent message that the named disciplines must acknowledge,
and the medication shows who has not yet."""

from __future__ import annotations

from typing import Any

from sqlmodel import select

from careteam.audit.tables import AuditEntry
from careteam.medications.codes import MedicationEvent
from careteam.messaging.codes import MessageEvent
from tests.medications.world import make_world
from tests.referrals.world import count_events, plan_events


async def add(client: Any, h: dict[str, str], plan_id: int, **body: Any) -> Any:
    return await client.post(f"/api/v1/plans/{plan_id}/medications", json=body, headers=h)


async def change(client: Any, h: dict[str, str], med: dict[str, Any], **body: Any) -> Any:
    headers = {**h, "If-Match": f'W/"{med["version"]}"'}
    return await client.patch(f"/api/v1/medications/{med['id']}", json=body, headers=headers)


async def listed(client: Any, h: dict[str, str], plan_id: int) -> dict[str, Any]:
    r = await client.get(f"/api/v1/plans/{plan_id}/medications", headers=h)
    assert r.status_code == 200, r.text
    return dict(r.json())


async def test_the_plan_total_and_its_flags_follow_the_opioids(client: Any, db: Any, login: Any) -> None:
    w = await make_world(db)
    h = await login(w.names["physician"])
    r = await add(client, h, w.plan_id, drug="oxycodone", dose=10, frequency="q6h", start_date="2026-11-02")
    assert r.status_code == 201, r.text
    oxy = r.json()
    assert (oxy["mme_per_day"], oxy["unit"], oxy["route"], oxy["doses_per_day"]) == (60.0, "mg", "oral", 4)
    assert r.headers["ETag"] == 'W/"1"' and r.headers["Location"] == f"/api/v1/medications/{oxy['id']}"
    mme = (await listed(client, h, w.plan_id))["mme"]
    assert (mme["total"], mme["level"]) == (60.0, "caution")
    assert "not a dose-conversion tool" in mme["caveat"] and "2022" in mme["source"]

    patch = (
        await add(client, h, w.plan_id, drug="fentanyl-transdermal", dose=25, frequency="continuous")
    ).json()
    assert (patch["mme_per_day"], patch["unit"], patch["route"]) == (60.0, "mcg/h", "transdermal")
    mme = (await listed(client, h, w.plan_id))["mme"]
    assert (mme["total"], mme["level"]) == (120.0, "high")

    r = await change(client, h, oxy, status="stopped")
    assert r.status_code == 200, r.text
    assert r.json()["version"] == 2 and r.headers["ETag"] == 'W/"2"'
    body = await listed(client, h, w.plan_id)
    assert (body["mme"]["total"], body["mme"]["level"]) == (60.0, "caution")
    assert [m["status"] for m in body["items"]] == ["active", "stopped"]  # active first

    kinds = [e.kind for e in await plan_events(db, w.plan_id) if e.kind.startswith("medication.")]
    assert kinds == [MedicationEvent.added, MedicationEvent.added, MedicationEvent.changed]
    async with db() as s:
        audits = (await s.exec(select(AuditEntry).where(AuditEntry.resource_type == "medication"))).all()
    assert sorted(a.action for a in audits) == ["create", "create", "update"]


async def test_who_may_read_and_write(client: Any, db: Any, login: Any) -> None:
    w = await make_world(db)
    nurse = await login(w.names["nurse"])
    med = (await add(client, nurse, w.plan_id, drug="tramadol", dose=50, frequency="qid")).json()
    psychologist = await login(w.names["psychologist"])
    assert (await listed(client, psychologist, w.plan_id))["items"][0]["id"] == med["id"]
    r = await add(client, psychologist, w.plan_id, drug="tramadol", dose=50, frequency="qid")
    assert r.status_code == 403
    assert (await change(client, psychologist, med, dose=100)).status_code == 403
    outsider = await login(w.names["outsider"])
    assert (await client.get(f"/api/v1/plans/{w.plan_id}/medications", headers=outsider)).status_code == 404
    assert (await change(client, outsider, med, dose=100)).status_code == 404
    assert (
        await add(client, outsider, w.plan_id, drug="tramadol", dose=5, frequency="qid")
    ).status_code == 404


async def test_versions_and_bad_input_change_nothing(client: Any, db: Any, login: Any) -> None:
    w = await make_world(db)
    h = await login(w.names["physician"])
    med = (await add(client, h, w.plan_id, drug="apixaban", dose=5, frequency="bid")).json()
    before = await count_events(db, w.plan_id)
    cases: list[tuple[str, dict[str, Any]]] = [
        ("drug", {"drug": "aspirin", "dose": 75, "frequency": "daily"}),
        ("dose", {"drug": "oxycodone", "dose": 0, "frequency": "q6h"}),
        ("frequency", {"drug": "fentanyl-transdermal", "dose": 25, "frequency": "q6h"}),
        ("frequency", {"drug": "oxycodone", "dose": 5, "frequency": "continuous"}),
        ("route", {"drug": "oxycodone", "dose": 5, "frequency": "q6h", "route": "transdermal"}),
        ("hold_days", {"drug": "oxycodone", "dose": 5, "frequency": "q6h", "hold_days": 3}),
        ("hold_days", {"drug": "apixaban", "dose": 5, "frequency": "bid", "hold_days": 31}),
        (
            "acknowledge_by",
            {"drug": "oxycodone", "dose": 5, "frequency": "q6h", "acknowledge_by": ["pharmacist"]},
        ),
    ]
    for field, body in cases:
        r = await add(client, h, w.plan_id, **body)
        assert r.status_code == 422, (body, r.text)
        assert any(field in e["field"] for e in r.json()["errors"]), (body, r.json())
    r = await client.patch(f"/api/v1/medications/{med['id']}", json={"dose": 2.5}, headers=h)
    assert r.status_code == 428
    assert (await change(client, h, {**med, "version": 7}, dose=2.5)).status_code == 412
    assert (await change(client, h, med, dose=None)).status_code == 422
    assert await count_events(db, w.plan_id) == before


async def test_an_opioid_change_asks_nurse_and_pharmacist_and_shows_who_has_not_acknowledged(
    client: Any, db: Any, login: Any
) -> None:
    w = await make_world(db, pharmacist=True)
    h = await login(w.names["physician"])
    oxy = (await add(client, h, w.plan_id, drug="oxycodone", dose=10, frequency="q6h")).json()
    assert oxy["safety"]["acknowledged"] is False
    assert {a["user_id"] for a in oxy["safety"]["waiting_for"]} == {w.id("nurse"), w.id("pharmacist")}
    message = (await client.get(f"/api/v1/messages/{oxy['safety']['message_id']}", headers=h)).json()
    assert message["urgent"]["disciplines"] == ["nurse", "pharmacist"]
    assert "New opioid: Oxycodone 10 mg every 6 hours (60 MME/day)" in message["body"]

    nurse = await login(w.names["nurse"])
    r = await client.post(f"/api/v1/messages/{oxy['safety']['message_id']}/ack", headers=nurse)
    assert r.status_code == 200, r.text
    safety = (await listed(client, h, w.plan_id))["items"][0]["safety"]
    assert [a["user_id"] for a in safety["waiting_for"]] == [w.id("pharmacist")]
    pharmacist = await login(w.names["pharmacist"])
    await client.post(f"/api/v1/messages/{oxy['safety']['message_id']}/ack", headers=pharmacist)
    safety = (await listed(client, h, w.plan_id))["items"][0]["safety"]
    assert (safety["waiting_for"], safety["acknowledged"]) == ([], True)

    # A dose change asks again; a note alone does not.
    oxy = (await change(client, h, {**oxy, "version": 1}, note="Taper step 1")).json()
    assert oxy["safety"]["message_id"] == message["id"]
    oxy = (await change(client, h, oxy, dose=5)).json()
    assert oxy["safety"]["message_id"] != message["id"] and not oxy["safety"]["acknowledged"]
    kinds = [e.kind for e in await plan_events(db, w.plan_id)]
    assert kinds.count(MessageEvent.created) == 2 and kinds.count(MessageEvent.acknowledged) == 2


async def test_without_a_pharmacist_the_physician_is_asked_and_the_request_may_choose(
    client: Any, db: Any, login: Any
) -> None:
    w = await make_world(db)
    h = await login(w.names["lead"])
    med = (await add(client, h, w.plan_id, drug="methadone", dose=5, frequency="bid")).json()
    assert {a["user_id"] for a in med["safety"]["waiting_for"]} == {w.id("nurse"), w.id("physician")}
    chosen = (
        await add(
            client, h, w.plan_id, drug="tramadol", dose=50, frequency="qid", acknowledge_by=["psychologist"]
        )
    ).json()
    assert [a["user_id"] for a in chosen["safety"]["waiting_for"]] == [w.id("psychologist")]


async def test_an_anticoagulant_hold_asks_physician_and_nurse(client: Any, db: Any, login: Any) -> None:
    w = await make_world(db)
    h = await login(w.names["lead"])
    apixaban = (await add(client, h, w.plan_id, drug="apixaban", dose=5, frequency="bid")).json()
    assert apixaban["safety"] is None  # no hold, no safety change
    r = await change(client, h, apixaban, hold_days=3, hold_note="Hold apixaban 3 days before the SCS trial")
    assert r.status_code == 200, r.text
    held = r.json()
    assert (held["hold_days"], held["hold_note"]) == (3, "Hold apixaban 3 days before the SCS trial")
    assert {a["user_id"] for a in held["safety"]["waiting_for"]} == {w.id("nurse"), w.id("physician")}
    message = (await client.get(f"/api/v1/messages/{held['safety']['message_id']}", headers=h)).json()
    assert "Anticoagulant hold 3 days before the procedure" in message["body"]
    assert message["urgent"]["any_of_discipline"] is True
