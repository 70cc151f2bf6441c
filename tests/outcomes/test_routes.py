"""Outcome measures over the JSON API: any team member records, scores are checked against their measure,
a wrong score is withdrawn (never edited), each write is one event on the plan's stream and one audit row,
and other teams see nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlmodel import select

from careteam.audit.tables import AuditEntry
from careteam.outcomes.codes import OutcomeEvent
from tests.referrals.world import count_events, make_world, plan_events


async def record(client: Any, h: dict[str, str], plan_id: int, **body: Any) -> Any:
    return await client.post(f"/api/v1/plans/{plan_id}/measures", json=body, headers=h)


async def test_a_nurse_records_scores_with_their_codes_and_bands(client: Any, db: Any, login: Any) -> None:
    w = await make_world(db)
    h = await login(w.names["nurse"])
    r = await record(client, h, w.plan_id, measure="nrs", value=7, note="Worse after PT days")
    assert r.status_code == 201, r.text
    nrs = r.json()
    assert nrs["code"] == {"system": "http://loinc.org", "code": "72514-3", "display": "NRS"}
    assert (nrs["value"], nrs["band"], nrs["status"], nrs["version"]) == (7, "severe", "final", 1)
    assert nrs["author_id"] == w.id("nurse") and nrs["patient_id"] == w.patient_id
    assert r.headers["Location"] == f"/api/v1/measures/{nrs['id']}" and r.headers["ETag"] == 'W/"1"'
    peg = (await record(client, h, w.plan_id, measure="peg", items=[7, 6, 8])).json()
    assert (peg["value"], peg["items"], peg["band"]) == (7.0, [7, 6, 8], None)
    phq = (await record(client, h, w.plan_id, measure="phq9", value=12)).json()
    assert (phq["code"]["code"], phq["band"]) == ("44261-6", "moderate")
    gad = (await record(client, h, w.plan_id, measure="gad7", value=4)).json()
    assert (gad["code"]["code"], gad["band"]) == ("70274-6", "minimal")
    odi = (await record(client, h, w.plan_id, measure="odi", value=46)).json()
    assert (odi["unit"], odi["band"]) == ("%", "severe disability")

    events = await plan_events(db, w.plan_id)
    assert [e.kind for e in events] == [OutcomeEvent.recorded] * 5
    assert [e.data["id"] for e in events] == [x["id"] for x in (nrs, peg, phq, gad, odi)]
    async with db() as s:
        created = (
            await s.exec(
                select(AuditEntry).where(
                    AuditEntry.resource_type == "observation", AuditEntry.action == "create"
                )
            )
        ).all()
    assert len(created) == 5 and {a.patient_id for a in created} == {w.patient_id}


async def test_bad_scores_name_the_field_and_change_nothing(client: Any, db: Any, login: Any) -> None:
    w = await make_world(db)
    h = await login(w.names["physician"])
    future = (datetime.now(UTC) + timedelta(hours=2)).isoformat()
    cases: list[tuple[str, dict[str, Any]]] = [
        ("value", {"measure": "nrs", "value": 11}),
        ("value", {"measure": "nrs", "value": 6.5}),
        ("value", {"measure": "nrs"}),
        ("value", {"measure": "phq9", "value": 28}),
        ("value", {"measure": "gad7", "value": -1}),
        ("value", {"measure": "peg", "value": 5, "items": [5, 5, 5]}),
        ("items", {"measure": "peg", "items": [5, 5]}),
        ("items", {"measure": "peg", "items": [5, 11, 5]}),
        ("items", {"measure": "nrs", "value": 5, "items": [5]}),
        ("measure", {"measure": "fiqr", "value": 40}),
        ("effective_at", {"measure": "nrs", "value": 5, "effective_at": future}),
        ("effective_at", {"measure": "nrs", "value": 5, "effective_at": "2026-12-01T10:00:00"}),
        ("note", {"measure": "nrs", "value": 5, "note": "   "}),
    ]
    for field, body in cases:
        r = await record(client, h, w.plan_id, **body)
        assert r.status_code == 422, (body, r.text)
        assert r.headers["content-type"] == "application/problem+json"
        assert any(field in e["field"] for e in r.json()["errors"]), (body, r.json())
    assert await count_events(db, w.plan_id) == 0


async def test_a_wrong_score_is_withdrawn_once_never_edited(client: Any, db: Any, login: Any) -> None:
    w = await make_world(db)
    nurse, lead = await login(w.names["nurse"]), await login(w.names["lead"])
    score = (await record(client, nurse, w.plan_id, measure="nrs", value=9)).json()
    url = f"/api/v1/measures/{score['id']}/entered-in-error"
    reason = {"reason": "Recorded on the wrong patient"}
    missing = await client.post(url, json=reason, headers=lead)
    assert missing.status_code == 428
    stale = await client.post(url, json=reason, headers={**lead, "If-Match": 'W/"2"'})
    assert stale.status_code == 412 and stale.json()["current"]["status"] == "final"
    r = await client.post(url, json=reason, headers={**lead, "If-Match": 'W/"1"'})
    assert r.status_code == 200, r.text
    withdrawn = r.json()
    assert (withdrawn["status"], withdrawn["error_reason"], withdrawn["value"]) == (
        "entered-in-error",
        "Recorded on the wrong patient",
        9,
    )
    assert withdrawn["withdrawn_by_id"] == w.id("lead") and withdrawn["version"] == 2
    again = await client.post(url, json=reason, headers={**lead, "If-Match": 'W/"2"'})
    assert again.status_code == 409
    listed = (await client.get(f"/api/v1/plans/{w.plan_id}/measures", headers=nurse)).json()["items"]
    assert [(x["id"], x["status"]) for x in listed] == [(score["id"], "entered-in-error")]
    events = await plan_events(db, w.plan_id)
    assert [e.kind for e in events] == [OutcomeEvent.recorded, OutcomeEvent.entered_in_error]


async def test_scores_are_listed_oldest_first_by_measure(client: Any, db: Any, login: Any) -> None:
    w = await make_world(db)
    h = await login(w.names["nurse"])
    now = datetime.now(UTC)
    for days, value in ((2, 5), (30, 8), (9, 6)):
        at = (now - timedelta(days=days)).isoformat()
        assert (
            await record(client, h, w.plan_id, measure="nrs", value=value, effective_at=at)
        ).status_code == 201
    await record(client, h, w.plan_id, measure="gad7", value=9)
    nrs = await client.get(f"/api/v1/plans/{w.plan_id}/measures", params={"measure": "nrs"}, headers=h)
    assert [x["value"] for x in nrs.json()["items"]] == [8, 6, 5]
    every = (await client.get(f"/api/v1/plans/{w.plan_id}/measures", headers=h)).json()["items"]
    assert [x["measure"] for x in every] == ["nrs", "nrs", "nrs", "gad7"]
    async with db() as s:
        reads = (
            await s.exec(
                select(AuditEntry).where(
                    AuditEntry.resource_type == "care_plan",
                    AuditEntry.action == "read",
                    AuditEntry.resource_id == str(w.plan_id),
                )
            )
        ).all()
    assert len(reads) == 2


async def test_other_teams_see_and_touch_nothing(client: Any, db: Any, login: Any) -> None:
    w = await make_world(db)
    score = (await record(client, await login(w.names["nurse"]), w.plan_id, measure="odi", value=40)).json()
    outsider = await login(w.names["outsider"])
    assert (await record(client, outsider, w.plan_id, measure="nrs", value=3)).status_code == 404
    assert (await client.get(f"/api/v1/plans/{w.plan_id}/measures", headers=outsider)).status_code == 404
    r = await client.post(
        f"/api/v1/measures/{score['id']}/entered-in-error",
        json={"reason": "not mine"},
        headers={**outsider, "If-Match": 'W/"1"'},
    )
    assert r.status_code == 404
    assert await count_events(db, w.plan_id) == 1


async def test_the_board_history_says_what_was_scored(client: Any, db: Any, login: Any) -> None:
    from careteam.plans.pages import describe

    w = await make_world(db)
    h = await login(w.names["nurse"])
    odi = (await record(client, h, w.plan_id, measure="odi", value=46)).json()
    peg = (await record(client, h, w.plan_id, measure="peg", items=[7, 6, 6])).json()
    assert describe(OutcomeEvent.recorded, odi, None, {}) == "recorded ODI 46%"
    assert describe(OutcomeEvent.recorded, peg, None, {}) == "recorded PEG 6.33"
    assert describe(OutcomeEvent.entered_in_error, peg, None, {}) == "withdrew as entered in error PEG 6.33"
