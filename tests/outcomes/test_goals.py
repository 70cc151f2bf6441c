"""Goals judged by an outcome measure over the JSON API: set on plans' goal routes (create, PATCH with
If-Match, null unlinks), checked against the measure's range (422 naming the field, nothing stored), each
change one event on the plan's stream; the achievement follows the scores at GET
/api/v1/plans/{id}/goal-progress, for the care team only."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from careteam.plans.kinds import PlanEvent
from tests.referrals.world import count_events, make_world, plan_events

PEG_4 = {"measure": "peg", "comparator": "<=", "value": 4}


async def add_goal(client: Any, h: dict[str, str], plan_id: int, **body: Any) -> Any:
    body = {"description": "PEG from 7 to 4 or less in 12 weeks", "target": "PEG <= 4"} | body
    return await client.post(f"/api/v1/plans/{plan_id}/goals", json=body, headers=h)


async def progress(client: Any, h: dict[str, str], plan_id: int) -> list[dict[str, Any]]:
    r = await client.get(f"/api/v1/plans/{plan_id}/goal-progress", headers=h)
    assert r.status_code == 200, r.text
    return list(r.json()["items"])


async def peg(client: Any, h: dict[str, str], plan_id: int, items: list[int], days_ago: int = 0) -> None:
    at = (datetime.now(UTC) - timedelta(days=days_ago)).isoformat()
    body = {"measure": "peg", "items": items, "effective_at": at}
    r = await client.post(f"/api/v1/plans/{plan_id}/measures", json=body, headers=h)
    assert r.status_code == 201, r.text


async def test_a_goal_judged_by_peg_follows_the_scores(client: Any, db: Any, login: Any) -> None:
    w = await make_world(db)
    lead, nurse = await login(w.names["lead"]), await login(w.names["nurse"])
    due = (date.today() + timedelta(days=70)).isoformat()
    r = await add_goal(client, lead, w.plan_id, due_date=due, measure_target=PEG_4)
    assert r.status_code == 201, r.text
    goal = r.json()
    assert goal["measure_target"] == PEG_4 and goal["target"] == "PEG <= 4"
    await add_goal(client, lead, w.plan_id, description="Walk 30 minutes daily", target="30 min")
    statuses = []
    for items, days_ago in (([7, 7, 7], 20), ([6, 6, 6], 10), ([4, 4, 3], 0)):
        await peg(client, nurse, w.plan_id, items, days_ago)
        statuses.append(
            [(g["goal_id"], g["status"], g["latest"]) for g in await progress(client, nurse, w.plan_id)]
        )
    # Only the goal judged by a measure has a status; free-text targets stay text.
    assert statuses == [
        [(goal["id"], "in-progress", 7.0)],
        [(goal["id"], "improving", 6.0)],
        [(goal["id"], "achieved", 3.67)],
    ]
    events = await plan_events(db, w.plan_id)
    assert events[0].kind == PlanEvent.goal_created and events[0].data["measure_target"] == PEG_4


async def test_a_goal_is_linked_changed_and_unlinked_with_if_match(client: Any, db: Any, login: Any) -> None:
    w = await make_world(db)
    lead = await login(w.names["lead"])
    goal = (await add_goal(client, lead, w.plan_id)).json()
    assert goal["measure_target"] is None
    url = f"/api/v1/goals/{goal['id']}"
    nrs = {"measure_target": {"measure": "nrs", "comparator": "<", "value": 4}}
    assert (await client.patch(url, json=nrs, headers=lead)).status_code == 428
    stale = await client.patch(url, json=nrs, headers={**lead, "If-Match": 'W/"2"'})
    assert stale.status_code == 412 and stale.json()["current"]["measure_target"] is None
    r = await client.patch(url, json=nrs, headers={**lead, "If-Match": 'W/"1"'})
    assert r.status_code == 200, r.text
    assert r.json()["measure_target"] == {"measure": "nrs", "comparator": "<", "value": 4.0}
    assert r.json()["version"] == 2 and r.headers["ETag"] == 'W/"2"'
    # Another field alone keeps the link; null unlinks it (the free-text target stays).
    kept = await client.patch(url, json={"target": "NRS under 4"}, headers={**lead, "If-Match": 'W/"2"'})
    assert kept.json()["measure_target"]["measure"] == "nrs"
    gone = await client.patch(url, json={"measure_target": None}, headers={**lead, "If-Match": 'W/"3"'})
    assert gone.json()["measure_target"] is None and gone.json()["target"] == "NRS under 4"
    assert await progress(client, lead, w.plan_id) == []
    events = await plan_events(db, w.plan_id)
    assert [e.kind for e in events] == [PlanEvent.goal_created] + [PlanEvent.goal_updated] * 3
    assert events[-1].data["measure_target"] is None


async def test_bad_targets_name_the_field_and_change_nothing(client: Any, db: Any, login: Any) -> None:
    w = await make_world(db)
    lead = await login(w.names["lead"])
    goal = (await add_goal(client, lead, w.plan_id)).json()
    before = await count_events(db, w.plan_id)
    cases: list[tuple[str, dict[str, Any]]] = [
        ("measure_target.value", {"measure": "peg", "comparator": "<=", "value": 11}),
        ("measure_target.value", {"measure": "phq9", "comparator": "<=", "value": 28}),
        ("measure_target.value", {"measure": "nrs", "comparator": "<=", "value": -1}),
        ("measure_target.value", {"measure": "nrs", "comparator": "<="}),
        ("measure_target.comparator", {"measure": "nrs", "comparator": "==", "value": 4}),
        ("measure_target.measure", {"measure": "fiqr", "comparator": "<=", "value": 50}),
        ("measure_target.extra", {"measure": "nrs", "comparator": "<=", "value": 4, "extra": 1}),
    ]
    for field, target in cases:
        for r in (
            await add_goal(client, lead, w.plan_id, measure_target=target),
            await client.patch(
                f"/api/v1/goals/{goal['id']}",
                json={"measure_target": target},
                headers={**lead, "If-Match": 'W/"1"'},
            ),
        ):
            assert r.status_code == 422, (target, r.text)
            assert r.headers["content-type"] == "application/problem+json"
            assert any(e["field"].endswith(field) for e in r.json()["errors"]), (field, r.json())
    assert await count_events(db, w.plan_id) == before


async def test_only_the_team_sets_and_reads_goal_targets(client: Any, db: Any, login: Any) -> None:
    w = await make_world(db)
    outsider, nurse = await login(w.names["outsider"]), await login(w.names["nurse"])
    assert (await add_goal(client, outsider, w.plan_id, measure_target=PEG_4)).status_code == 404
    assert (await client.get(f"/api/v1/plans/{w.plan_id}/goal-progress", headers=outsider)).status_code == 404
    # Plans are shaped by the lead and the physicians: a nurse reads the progress, sets no goal.
    assert (await add_goal(client, nurse, w.plan_id, measure_target=PEG_4)).status_code == 403
    assert await progress(client, nurse, w.plan_id) == []
    assert await count_events(db, w.plan_id) == 0


async def test_a_goal_past_its_due_date_unmet_is_not_achieved(client: Any, db: Any, login: Any) -> None:
    w = await make_world(db)
    lead, nurse = await login(w.names["lead"]), await login(w.names["nurse"])
    due = (date.today() - timedelta(days=1)).isoformat()
    await add_goal(client, lead, w.plan_id, due_date=due, measure_target=PEG_4)
    await peg(client, nurse, w.plan_id, [7, 6, 6])
    [item] = await progress(client, nurse, w.plan_id)
    assert (item["status"], item["due_date"]) == ("not-achieved", due)
