"""Care plans and goals: concurrent edits never overwrite each other."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.board_world import make_board


async def test_concurrent_goal_edits_from_one_version_let_exactly_one_through(
    client: Any, db: Any, login: Any
) -> None:
    b = await make_board(db)
    h = await login(b.lead)
    goal = (
        await client.post(
            f"/api/v1/plans/{b.plan_id}/goals", json={"description": "Walk 30 minutes daily"}, headers=h
        )
    ).json()
    stale = {**h, "If-Match": f'W/"{goal["version"]}"'}

    async def edit(n: int) -> int:
        r = await client.patch(f"/api/v1/goals/{goal['id']}", json={"target": f"target {n}"}, headers=stale)
        return int(r.status_code)

    statuses = await asyncio.gather(*(edit(n) for n in range(10)))
    assert sorted(statuses) == [200] + [412] * 9
    final = (await client.get(f"/api/v1/plans/{b.plan_id}", headers=h)).json()["goals"][0]
    assert final["version"] == goal["version"] + 1


async def test_reversed_period_names_period_end(client: Any, db: Any, login: Any) -> None:
    b = await make_board(db)
    r = await client.post(
        "/api/v1/plans",
        json={
            "patient_id": b.patient_id,
            "title": "Knee OA",
            "period_start": "2027-01-01",
            "period_end": "2026-01-01",
        },
        headers=await login(b.lead),
    )
    assert r.status_code == 422 and [e["field"] for e in r.json()["errors"]] == ["body.period_end"]
