"""Goals judged by a measure, live in a real browser: two clinicians have the board open; the nurse records
three PEG scores on the outcomes page and, on BOTH boards, the header's trend and the goal's status follow
(in progress, improving, achieved) without a reload; the physician changes the goal's target in the board's
goal form and the nurse's card follows; a block's response shows on the task's card, positive, for both.
Every wait is on the page's state, never on time."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from playwright.async_api import Page, expect

from tests.browser.conftest import SignedIn
from tests.browser.test_new_pages import passes_axe_and_fits, tab_to
from tests.referrals.world import make_world

pytestmark = pytest.mark.browser


async def open_board(page: Page, plan_id: int) -> None:
    await page.goto(f"/plans/{plan_id}")
    await expect(page.locator("#board-page")).to_have_attribute("data-ready", "true")
    await expect(page.locator("#live-status")).to_have_attribute("data-state", "live")


async def record_peg(page: Page, items: tuple[str, str, str]) -> None:
    """The PEG-3 form on the outcomes page, by keyboard."""
    await tab_to(page, page.get_by_label("Measure", exact=True))
    await page.get_by_label("Measure", exact=True).select_option("peg")
    labels = (
        "Average pain",
        "Interference with enjoyment of life",
        "Interference with general activity",
    )
    for label, value in zip(labels, items, strict=True):
        field = page.get_by_label(label)
        await tab_to(page, field)
        await page.keyboard.type(value)
    await page.get_by_role("button", name="Record", exact=True).press("Enter")


async def test_both_boards_follow_the_scores_and_the_goal_live(
    signed_in: SignedIn, client: httpx.AsyncClient, db: Any, login: Any
) -> None:
    w = await make_world(db)
    lead = await login(w.names["lead"])
    r = await client.post(
        f"/api/v1/plans/{w.plan_id}/goals",
        json={
            "description": "PEG from 7 to 4 or less in 12 weeks",
            "measure_target": {"measure": "peg", "comparator": "<=", "value": 4},
        },
        headers=lead,
    )
    assert r.status_code == 201, r.text
    goal_id = r.json()["id"]
    r = await client.post(
        f"/api/v1/plans/{w.plan_id}/tasks",
        json={"title": "Medial branch block L4-L5 (diagnostic)", "discipline": "physician"},
        headers=lead,
    )
    task_id = r.json()["id"]

    physician = await signed_in(w.names["physician"])
    nurse = await signed_in(w.names["nurse"])
    boards = [physician.page, nurse.page]
    for board in boards:
        await open_board(board, w.plan_id)
        goal = board.locator(f"#goal-{goal_id}")
        await expect(goal.locator("[data-field=measure-target]")).to_have_text("PEG ≤ 4")
        await expect(goal.locator("[data-achievement]")).to_have_attribute("data-achievement", "in-progress")
        await expect(goal.locator("[data-slot=goal-extra]")).to_contain_text("no score yet")

    form = await nurse.context.new_page()
    await form.goto(f"/plans/{w.plan_id}/outcomes")
    await expect(form.locator("#live-status")).to_have_attribute("data-state", "live")
    steps = [
        (("7", "7", "7"), "7", "in-progress", "In progress"),
        (("6", "6", "5"), "5.67", "improving", "Improving"),
        (("4", "4", "3"), "3.67", "achieved", "Achieved"),
    ]
    for count, (items, latest, status, words) in enumerate(steps, start=1):
        await record_peg(form, items)
        await expect(form.locator("#measure-peg tbody tr")).to_have_count(count)
        for board in boards:
            spark = board.locator("#outcome-sparks [data-measure=peg]")
            await expect(spark.locator(".sparks__latest")).to_have_text(latest)
            label = "one score" if count == 1 else f"{count} scores"
            await expect(spark.locator("svg")).to_have_attribute("aria-label", re.compile(f": {label}[, ]"))
            slot = board.locator(f"#goal-{goal_id} [data-slot=goal-extra]")
            await expect(slot.locator("[data-achievement]")).to_have_attribute("data-achievement", status)
            await expect(slot).to_contain_text(f"{words}latest PEG {latest}")
    # The outcomes page's goal table and chart follow too: the target line is drawn.
    await expect(form.locator(f"#goal-progress-{goal_id} [data-achievement]")).to_have_attribute(
        "data-achievement", "achieved"
    )
    await expect(form.locator("#measure-peg line.trend__target")).to_have_count(1)

    # The physician tightens the target in the board's goal form; the nurse's card follows.
    board = physician.page
    goal = board.locator(f"#goal-{goal_id}")
    await goal.get_by_role("button", name="Edit goal").click()
    await goal.get_by_label("Value", exact=True).fill("3")
    await goal.get_by_role("button", name="Save goal").press("Enter")
    for viewer in boards:
        card = viewer.locator(f"#goal-{goal_id}")
        await expect(card.locator("[data-field=measure-target]")).to_have_text("PEG ≤ 3")
        await expect(card.locator("[data-achievement]")).to_have_attribute("data-achievement", "improving")

    # A block's response on its task's card, positive against the team's 80%, on both boards.
    r = await client.post(
        f"/api/v1/tasks/{task_id}/responses",
        json={"relief_percent": 85, "duration_hours": 6},
        headers=await login(w.names["physician"]),
    )
    assert r.status_code == 201, r.text
    for viewer in boards:
        response = viewer.locator(f"#task-{task_id} [data-extra=response] .card__response")
        await expect(response).to_have_text("85% relief over 6 h: positive")
        await expect(response).to_have_attribute("data-result", "positive")

    await passes_axe_and_fits(nurse.page)
    await passes_axe_and_fits(form)
    assert physician.script_errors == [] and nurse.script_errors == []
