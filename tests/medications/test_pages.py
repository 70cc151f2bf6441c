"""The board's Medications panel: its write form for the team's prescribers and reviewers only."""

from __future__ import annotations

from typing import Any

import httpx

from tests.medications.world import make_world
from tests.plans.test_pages import cookie


async def test_the_board_offers_the_medication_form_to_the_teams_writers_only(
    app: Any, client: httpx.AsyncClient, db: Any
) -> None:
    w = await make_world(db)
    # The lead, the physician and the nurse write; the psychologist reads; the outsider's team is another.
    for who, writes in (("lead", True), ("physician", True), ("nurse", True), ("psychologist", False)):
        r = await client.get(f"/plans/{w.plan_id}", headers=await cookie(app, db, w.names[who]))
        assert r.status_code == 200, who
        assert ('id="med-add-form"' in r.text) is writes, who
    r = await client.get(f"/plans/{w.plan_id}", headers=await cookie(app, db, w.names["outsider"]))
    assert r.status_code == 404
