"""My work in a real browser, on this branch's own contract: whenever the clinician's stream ``user:<id>``
carries ``work.changed`` (or ``notification.created``), the open page fetches her list again and shows it,
without a reload; titles stay text, and a row she was on keeps her focus.

Here the event is recorded on her stream directly, as the feature that owns it (notifications) records it
on every change to her worklist; tests/browser/test_work_live.py drives the whole path from another browser.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from playwright.async_api import expect

from careteam.core.vocab import Discipline
from careteam.events import log as events
from careteam.events import streams
from careteam.patients.codes import TeamRole
from careteam.plans.tables import Task
from tests.browser.conftest import SignedIn
from tests.factories import make_patient, make_plan, make_user

pytestmark = pytest.mark.browser

LIVE_DEADLINE_MS = 15_000
HOSTILE = "<img src=x onerror=window.pwned=1>"


async def test_a_work_changed_event_refreshes_the_open_page(signed_in: SignedIn, db: Any) -> None:
    today = date.today()
    async with db() as s:
        nurse = await make_user(s, "nurse_w", discipline=Discipline.nurse)
        patient = await make_patient(s, members=[(nurse, TeamRole.member)], name="Ellen Marsh")
        plan = await make_plan(s, patient)
        first = Task(plan_id=plan.id or 0, title="UDS due", discipline="nurse", due_date=today)
        s.add(first)
        await s.flush()
    who = await signed_in("nurse_w")
    page = who.page
    await page.goto("/work")
    await expect(page.locator("#live-status")).to_have_attribute("data-state", "live")
    await page.evaluate("window.sameDocument = true")
    today_group = page.locator('[data-due="today"]')
    await expect(today_group.locator(".work-row")).to_have_count(1)
    await page.locator(f'[data-key="task-{first.id}"] a').focus()

    # A task lands in her lane, overdue, with a title that would be markup; her stream says so.
    async with db() as s:
        task = Task(
            plan_id=plan.id or 0, title=HOSTILE, discipline="nurse", due_date=today - timedelta(days=2)
        )
        s.add(task)
        await s.flush()
        await events.record(s, streams.user(nurse.id or 0), "work.changed", {"task_id": task.id}, actor=None)

    row = page.locator(f'[data-key="task-{task.id}"]')
    await expect(row).to_be_visible(timeout=LIVE_DEADLINE_MS)
    await expect(page.locator('[data-due="overdue"] [data-field="count"]')).to_have_text("1")
    await expect(row.locator("a")).to_have_text(HOSTILE)
    await expect(row.locator("a")).to_have_attribute("href", f"/plans/{plan.id}#task-{task.id}")
    await expect(row.locator('[data-field="flag"]')).to_have_text("Overdue")
    await expect(page.locator("#work-announce")).to_have_text("My work updated: 2 items.")
    # Redrawn, not reloaded; focus stayed on the row she was on; the title never ran as markup.
    assert await page.evaluate("window.sameDocument === true")
    focused = await page.evaluate("document.activeElement.closest('[data-key]')?.dataset.key")
    assert focused == f"task-{first.id}"
    assert await page.evaluate("window.pwned === undefined")
    assert who.script_errors == []
