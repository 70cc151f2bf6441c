"""The board's activity history says what other features did on the plan's stream, and leaves out what is
not activity (someone reading a thread)."""

from __future__ import annotations

import re
from typing import Any

from tests.plans.test_pages import cookie
from tests.referrals.world import make_world


async def test_referrals_and_messages_are_described_and_reading_is_not_activity(
    app: Any, client: Any, db: Any, login: Any
) -> None:
    w = await make_world(db)
    lead = await login(w.names["lead"])
    r = await client.post(
        "/api/v1/referrals",
        json={"plan_id": w.plan_id, "discipline": "psychologist", "reason": "CBT for pain catastrophising"},
        headers=lead,
    )
    assert r.status_code == 201, r.text
    r = await client.post(
        f"/api/v1/plans/{w.plan_id}/messages", json={"body": "Sleep diary due Friday"}, headers=lead
    )
    assert r.status_code == 201, r.text
    nurse = await login(w.names["nurse"])
    for _ in range(3):  # reading moves her position once; the rest change nothing
        r = await client.post(f"/api/v1/plans/{w.plan_id}/messages/read", json={}, headers=nurse)
        assert r.status_code == 200, r.text
    html = (await client.get(f"/plans/{w.plan_id}", headers=await cookie(app, db, w.names["lead"]))).text
    activity = html[html.index('id="activity-list"') : html.index("</ol>", html.index('id="activity-list"'))]
    texts = [re.sub(r"\s+", " ", t).strip() for t in re.findall(r'data-field="text">([^<]*)<', activity)]
    assert texts == ["posted a message in the team thread", "referred the patient to Psychology"], texts
