"""My work stays correct live across browsers: the nurse has /work open; the IPM lead, in her own browser
context, assigns a task to her through the API; the nurse's list shows it by itself (the page refreshes on
``work.changed`` / ``notification.created`` on her stream ``user:<id>``), and so does the header's "My work"
badge once the task is due today.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import httpx
import pytest
from playwright.async_api import expect

from careteam.core.vocab import Discipline
from careteam.patients.codes import TeamRole
from tests.browser.conftest import SignedIn
from tests.factories import make_patient, make_plan, make_user

pytestmark = pytest.mark.browser

LIVE_DEADLINE_MS = 15_000


async def test_a_task_assigned_from_another_browser_shows_in_her_work(
    signed_in: SignedIn, client: httpx.AsyncClient, db: Any, login: Any
) -> None:
    async with db() as s:
        nurse = await make_user(s, "nurse_live", discipline=Discipline.nurse)
        lead = await make_user(s, "lead_live", discipline=Discipline.ipm_lead)
        patient = await make_patient(s, members=[(lead, TeamRole.lead), (nurse, TeamRole.member)])
        plan = await make_plan(s, patient)
    mine = (await signed_in("nurse_live")).page
    await mine.goto("/work")
    await expect(mine.locator("#live-status")).to_have_attribute("data-state", "live")
    await expect(mine.locator(".work-row")).to_have_count(0)

    # The lead, from her own browser, puts a physician-lane task on the board assigned to the nurse.
    lead_page = (await signed_in("lead_live")).page
    await lead_page.goto(f"/plans/{plan.id}")
    token = await lead_page.locator('meta[name="csrf-token"]').get_attribute("content")
    answer = await lead_page.evaluate(
        """async ([planId, nurseId, token]) => {
            const r = await fetch(`/api/v1/plans/${planId}/tasks`, {
                method: "POST", credentials: "same-origin",
                headers: {"Content-Type": "application/json", "X-CSRF-Token": token},
                body: JSON.stringify({title: "Opioid agreement review", discipline: "physician",
                                      assignee_id: nurseId}),
            });
            return {status: r.status, body: await r.json()};
        }""",
        [plan.id, nurse.id, token],
    )
    assert answer["status"] == 201, answer
    task_id = answer["body"]["id"]

    row = mine.locator(f'[data-key="task-{task_id}"]')
    await expect(row).to_be_visible(timeout=LIVE_DEADLINE_MS)
    await expect(row.locator("a")).to_have_text("Opioid agreement review")
    await expect(mine.locator('[data-due="later"] [data-field="count"]')).to_have_text("1")
    badge = mine.locator("#work-badge .nav-badge__count")
    await expect(badge).to_have_text("0")

    # Due today: the row moves group, and the header's badge counts it.
    r = await client.patch(
        f"/api/v1/tasks/{task_id}",
        json={"due_date": date.today().isoformat()},
        headers={**await login("lead_live"), "If-Match": f'W/"{answer["body"]["version"]}"'},
    )
    assert r.status_code == 200, r.text
    await expect(mine.locator('[data-due="today"] [data-field="count"]')).to_have_text("1")
    await expect(badge).to_have_text("1")
    await expect(mine.get_by_role("link", name="My work 1 overdue or due today")).to_be_visible()
