"""For every event kind: the board read before, with the write's events applied, equals the board after."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from careteam.accounts.tables import User
from careteam.plans.board import apply_event
from tests.board_world import Board, make_board


async def _board(client: Any, h: dict[str, str], plan_id: int) -> dict[str, Any]:
    r = await client.get(f"/api/v1/plans/{plan_id}", headers=h)
    assert r.status_code == 200, r.text
    return dict(r.json())


async def _events_after(client: Any, h: dict[str, str], plan_id: int, after: int) -> list[dict[str, Any]]:
    r = await client.get(f"/api/v1/plans/{plan_id}/events", params={"after": after}, headers=h)
    assert r.status_code == 200 and not r.json()["resync"]
    return list(r.json()["items"])


async def _new_task(client: Any, h: dict[str, str], b: Board) -> dict[str, Any]:
    r = await client.post(
        f"/api/v1/plans/{b.plan_id}/tasks", json={"title": "PDMP check", "discipline": "nurse"}, headers=h
    )
    return dict(r.json())


async def _patch(client: Any, h: dict[str, str], url: str, version: int, body: dict[str, Any]) -> None:
    r = await client.patch(url, json=body, headers={**h, "If-Match": f'W/"{version}"'})
    assert r.status_code == 200, r.text


Write = Callable[[Any, dict[str, str], Board, Any], Awaitable[None]]


async def plan_updated(client: Any, h: dict[str, str], b: Board, db: Any) -> None:
    board = await _board(client, h, b.plan_id)
    await _patch(
        client,
        h,
        f"/api/v1/plans/{b.plan_id}",
        board["plan"]["version"],
        {"title": "CLBP: facet arthropathy, taper", "status": "on-hold"},
    )


async def goal_created(client: Any, h: dict[str, str], b: Board, db: Any) -> None:
    r = await client.post(
        f"/api/v1/plans/{b.plan_id}/goals",
        json={
            "description": "PEG from 7 to 4 or less",
            "target": "in 12 weeks",
            "measure_target": {"measure": "peg", "comparator": "<=", "value": 4},
        },
        headers=h,
    )
    assert r.status_code == 201


async def goal_updated(client: Any, h: dict[str, str], b: Board, db: Any) -> None:
    goal = (await _board(client, h, b.plan_id))["goals"][0]
    body = {
        "lifecycle_status": "completed",
        "measure_target": {"measure": "nrs", "comparator": "<", "value": 4},
    }
    await _patch(client, h, f"/api/v1/goals/{goal['id']}", goal["version"], body)


async def task_created(client: Any, h: dict[str, str], b: Board, db: Any) -> None:
    r = await client.post(
        f"/api/v1/plans/{b.plan_id}/tasks",
        json={
            "title": "Opioid agreement renewal",
            "discipline": "nurse",
            "priority": "urgent",
            "due_date": "2026-12-01",
            "checklist": [{"text": "Sign", "done": False}],
            "assignee_id": b.nurse_id,
        },
        headers=h,
    )
    assert r.status_code == 201


async def task_updated(client: Any, h: dict[str, str], b: Board, db: Any) -> None:
    task = (await _board(client, h, b.plan_id))["tasks"][0]
    await _patch(
        client,
        h,
        f"/api/v1/tasks/{task['id']}",
        task["version"],
        {"title": "PDMP check before refill", "checklist": [{"text": "Log result", "done": True}]},
    )


async def task_moved(client: Any, h: dict[str, str], b: Board, db: Any) -> None:
    tasks = (await _board(client, h, b.plan_id))["tasks"]
    # Move the last card to the top of In progress: status and order both change.
    await _patch(
        client,
        h,
        f"/api/v1/tasks/{tasks[-1]['id']}",
        tasks[-1]["version"],
        {"status": "in-progress", "position": tasks[0]["position"] - 1},
    )


async def task_gated(client: Any, h: dict[str, str], b: Board, db: Any) -> None:
    tasks = (await _board(client, h, b.plan_id))["tasks"]
    r = await client.put(
        f"/api/v1/tasks/{tasks[-1]['id']}/gates",
        json={"gate_task_ids": [tasks[0]["id"], tasks[1]["id"]]},
        headers={**h, "If-Match": f'W/"{tasks[-1]["version"]}"'},
    )
    assert r.status_code == 200, r.text


async def team_updated(client: Any, h: dict[str, str], b: Board, db: Any) -> None:
    async with db() as s:
        from tests.factories import make_user

        user: User = await make_user(s)
    r = await client.post(
        f"/api/v1/patients/{b.patient_id}/care-team/members", json={"user_id": user.id}, headers=h
    )
    assert r.status_code == 201, r.text


WRITES: dict[str, Write] = {
    "plan.updated": plan_updated,
    "goal.created": goal_created,
    "goal.updated": goal_updated,
    "task.created": task_created,
    "task.updated": task_updated,
    "task.moved": task_moved,
    "task.updated (gates)": task_gated,
    "team.updated": team_updated,
}


@pytest.mark.parametrize("kind", sorted(WRITES))
async def test_events_replay_onto_the_board(kind: str, client: Any, db: Any, login: Any) -> None:
    b = await make_board(db)
    h = await login(b.lead)
    await goal_created(client, h, b, db)
    for _ in range(3):
        await _new_task(client, h, b)
    before = await _board(client, h, b.plan_id)
    await WRITES[kind](client, h, b, db)
    after = await _board(client, h, b.plan_id)
    new_events = await _events_after(client, h, b.plan_id, before["last_seq"])
    assert [e["kind"] for e in new_events] == [kind.split(" ")[0]]
    replayed = before
    for event in new_events:
        replayed = apply_event(replayed, event)
    assert replayed == after
    assert replayed != before


async def test_plan_created_replays_from_an_empty_board(client: Any, db: Any, login: Any) -> None:
    b = await make_board(db)
    h = await login(b.lead)
    r = await client.post(
        "/api/v1/plans",
        json={
            "patient_id": b.patient_id,
            "title": "Knee OA: genicular RFA",
            "goals": [{"description": "Walk to the shops", "target": "500 m"}, {"description": "Sleep 6 h"}],
        },
        headers=h,
    )
    assert r.status_code == 201, r.text
    plan_id = r.json()["id"]
    after = await _board(client, h, plan_id)
    empty = {**after, "plan": {"last_seq": 0}, "goals": [], "tasks": [], "last_seq": 0}
    replayed = empty
    events = await _events_after(client, h, plan_id, 0)
    assert [e["kind"] for e in events] == ["plan.created", "goal.created", "goal.created"]
    assert [e["seq"] for e in events] == [1, 2, 3]
    for event in events:
        replayed = apply_event(replayed, event)
    assert replayed == after


async def test_events_after_beyond_the_log_asks_for_resync(client: Any, db: Any, login: Any) -> None:
    b = await make_board(db)
    h = await login(b.nurse)
    await _new_task(client, h, b)
    r = await client.get(f"/api/v1/plans/{b.plan_id}/events", params={"after": 99}, headers=h)
    assert r.json()["resync"] is True and r.json()["items"] == []
