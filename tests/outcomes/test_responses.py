"""Procedure responses over the JSON API: after a diagnostic block any team member records the percent
relief over its expected duration on the block's task; the team's threshold makes it positive or negative
(kept as it was when recorded); a wrong one is withdrawn (If-Match), never edited; each write is one event
on the plan's stream and one audit row; other teams see nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlmodel import select

from careteam.audit.tables import AuditEntry
from careteam.outcomes.codes import OutcomeEvent
from tests.referrals.world import count_events, make_world, plan_events

MBB = "Medial branch block L4-L5 (diagnostic)"


async def block(client: Any, h: dict[str, str], plan_id: int) -> int:
    body = {"title": MBB, "discipline": "physician"}
    r = await client.post(f"/api/v1/plans/{plan_id}/tasks", json=body, headers=h)
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


async def respond(client: Any, h: dict[str, str], task_id: int, **body: Any) -> Any:
    return await client.post(f"/api/v1/tasks/{task_id}/responses", json=body, headers=h)


async def test_relief_at_or_above_the_threshold_is_positive(
    client: Any, db: Any, login: Any, app: Any
) -> None:
    w = await make_world(db)
    physician, nurse = await login(w.names["physician"]), await login(w.names["nurse"])
    task_id = await block(client, physician, w.plan_id)
    at = (datetime.now(UTC) - timedelta(hours=7)).isoformat()
    r = await respond(
        client, nurse, task_id, relief_percent=80, duration_hours=6, observed_at=at, note="Diary"
    )
    assert r.status_code == 201, r.text
    first = r.json()
    assert (first["relief_percent"], first["duration_hours"], first["threshold"], first["result"]) == (
        80,
        6.0,
        80,
        "positive",
    )
    assert (first["task_id"], first["plan_id"], first["author_id"]) == (task_id, w.plan_id, w.id("nurse"))
    assert r.headers["ETag"] == 'W/"1"'
    second = (await respond(client, physician, task_id, relief_percent=79, duration_hours=6)).json()
    assert second["result"] == "negative"
    # The threshold is the team's setting, kept on each response as it was when recorded.
    app.state.settings.block_relief_threshold = 50
    third = (await respond(client, physician, task_id, relief_percent=60, duration_hours=6.5)).json()
    assert (third["threshold"], third["result"]) == (50, "positive")
    listed = (await client.get(f"/api/v1/tasks/{task_id}/responses", headers=nurse)).json()["items"]
    assert [(x["id"], x["result"]) for x in listed] == [
        (first["id"], "positive"),
        (second["id"], "negative"),
        (third["id"], "positive"),
    ]
    events = await plan_events(db, w.plan_id)
    assert [e.kind for e in events[1:]] == [OutcomeEvent.response_recorded] * 3
    assert events[1].data["result"] == "positive" and events[1].data["task_id"] == task_id
    async with db() as s:
        audit = (
            await s.exec(select(AuditEntry).where(AuditEntry.resource_type == "procedure_response"))
        ).all()
        reads = (
            await s.exec(
                select(AuditEntry).where(
                    AuditEntry.resource_type == "task",
                    AuditEntry.action == "read",
                    AuditEntry.resource_id == str(task_id),
                )
            )
        ).all()
    assert len(audit) == 3 and {a.patient_id for a in audit} == {w.patient_id} and len(reads) == 1


async def test_bad_responses_name_the_field_and_change_nothing(client: Any, db: Any, login: Any) -> None:
    w = await make_world(db)
    h = await login(w.names["physician"])
    task_id = await block(client, h, w.plan_id)
    before = await count_events(db, w.plan_id)
    future = (datetime.now(UTC) + timedelta(hours=2)).isoformat()
    cases: list[tuple[str, dict[str, Any]]] = [
        ("relief_percent", {"relief_percent": 101, "duration_hours": 6}),
        ("relief_percent", {"relief_percent": 80.5, "duration_hours": 6}),
        ("relief_percent", {"duration_hours": 6}),
        ("duration_hours", {"relief_percent": 80, "duration_hours": 0}),
        ("duration_hours", {"relief_percent": 80, "duration_hours": 169}),
        ("duration_hours", {"relief_percent": 80}),
        ("observed_at", {"relief_percent": 80, "duration_hours": 6, "observed_at": future}),
        ("observed_at", {"relief_percent": 80, "duration_hours": 6, "observed_at": "2026-12-01T10:00:00"}),
        ("note", {"relief_percent": 80, "duration_hours": 6, "note": "  "}),
        ("result", {"relief_percent": 80, "duration_hours": 6, "result": "positive"}),
    ]
    for field, body in cases:
        r = await respond(client, h, task_id, **body)
        assert r.status_code == 422, (body, r.text)
        assert r.headers["content-type"] == "application/problem+json"
        assert any(field in e["field"] for e in r.json()["errors"]), (body, r.json())
    assert await count_events(db, w.plan_id) == before


async def test_a_wrong_response_is_withdrawn_once(client: Any, db: Any, login: Any) -> None:
    w = await make_world(db)
    physician, lead = await login(w.names["physician"]), await login(w.names["lead"])
    task_id = await block(client, physician, w.plan_id)
    made = (await respond(client, physician, task_id, relief_percent=90, duration_hours=6)).json()
    url = f"/api/v1/responses/{made['id']}/entered-in-error"
    reason = {"reason": "Recorded on the wrong block"}
    assert (await client.post(url, json=reason, headers=lead)).status_code == 428
    stale = await client.post(url, json=reason, headers={**lead, "If-Match": 'W/"2"'})
    assert stale.status_code == 412 and stale.json()["current"]["status"] == "final"
    r = await client.post(url, json=reason, headers={**lead, "If-Match": 'W/"1"'})
    assert r.status_code == 200, r.text
    assert (r.json()["status"], r.json()["error_reason"], r.json()["withdrawn_by_id"]) == (
        "entered-in-error",
        "Recorded on the wrong block",
        w.id("lead"),
    )
    assert (await client.post(url, json=reason, headers={**lead, "If-Match": 'W/"2"'})).status_code == 409
    bad = await client.post(url, json={"reason": ""}, headers={**lead, "If-Match": 'W/"2"'})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"].endswith("reason")
    kinds = [e.kind for e in await plan_events(db, w.plan_id)]
    assert kinds[1:] == [OutcomeEvent.response_recorded, OutcomeEvent.response_entered_in_error]


async def test_other_teams_see_and_touch_no_response(client: Any, db: Any, login: Any) -> None:
    w = await make_world(db)
    physician, outsider = await login(w.names["physician"]), await login(w.names["outsider"])
    task_id = await block(client, physician, w.plan_id)
    made = (await respond(client, physician, task_id, relief_percent=70, duration_hours=6)).json()
    assert (await respond(client, outsider, task_id, relief_percent=70, duration_hours=6)).status_code == 404
    assert (await client.get(f"/api/v1/tasks/{task_id}/responses", headers=outsider)).status_code == 404
    r = await client.post(
        f"/api/v1/responses/{made['id']}/entered-in-error",
        json={"reason": "not mine"},
        headers={**outsider, "If-Match": 'W/"1"'},
    )
    assert r.status_code == 404
    assert await count_events(db, w.plan_id) == 2


async def test_the_board_history_says_what_was_recorded(client: Any, db: Any, login: Any) -> None:
    from careteam.plans.pages import describe

    w = await make_world(db)
    h = await login(w.names["physician"])
    task_id = await block(client, h, w.plan_id)
    made = (await respond(client, h, task_id, relief_percent=80, duration_hours=6)).json()
    assert describe(OutcomeEvent.response_recorded, made, None, {}) == (
        "recorded a block response: 80% relief over 6 h"
    )
