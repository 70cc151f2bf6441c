"""The inbox in a real browser: a lead assigns a task on the board; the nurse, on another page in her own
browser, sees her header's badge go from 0 to 1 by itself, reaches her notifications by keyboard, finds it
there, sees the next one arrive at the top live, and marks them all read."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from playwright.async_api import Page, expect

from tests.board_world import make_board
from tests.browser.conftest import SignedIn
from tests.browser.test_live_board import LIVE_DEADLINE_MS, add_task, open_board

pytestmark = pytest.mark.browser


async def _inbox_live(page: Page) -> None:
    # Its stream subscribed: from here on nothing sent to her is missed.
    await expect(page.locator("#unread-badge")).to_have_attribute("data-state", "live")


async def test_an_assignment_reaches_the_assignees_badge_and_inbox_live(
    signed_in: SignedIn, client: httpx.AsyncClient, db: Any, login: Any
) -> None:
    w = await make_board(db, patient_name="Ellen Marsh")
    lead_api = await login(w.lead)
    task = await add_task(client, lead_api, w.plan_id, title="UDS due")

    nurse = await signed_in(w.nurse)
    nurse_page = nurse.page
    await nurse_page.goto("/patients")
    badge = nurse_page.locator("#unread-badge")
    await expect(badge.locator(".nav-badge__count")).to_have_text("0")
    await _inbox_live(nurse_page)

    # The lead assigns the task to the nurse in the board's edit dialog (one socket: board and inbox).
    lead = await signed_in(w.lead)
    board = await open_board(lead, w.plan_id)
    await _inbox_live(board)
    await board.locator(f'#task-{task["id"]} [data-action="edit"]').click()
    await board.locator("#edit-assignee").select_option(str(w.nurse_id))
    await board.get_by_role("button", name="Save changes").click()
    await expect(board.locator("#task-dialog")).to_be_hidden()

    await expect(badge.locator(".nav-badge__count")).to_have_text("1", timeout=LIVE_DEADLINE_MS)
    await expect(badge).not_to_have_class("nav-badge nav-badge--zero")
    link = nurse_page.get_by_role("link", name="Notifications 1 unread")
    await expect(link).to_be_visible()

    # By keyboard: Tab from the top of the page reaches the Notifications link, Enter follows it.
    await nurse_page.locator("body").focus()
    for _ in range(10):
        await nurse_page.keyboard.press("Tab")
        if await link.evaluate("(el) => el === document.activeElement"):
            break
    else:
        raise AssertionError("the Notifications link is not reachable by keyboard")
    await nurse_page.keyboard.press("Enter")
    await expect(nurse_page).to_have_url(re.compile(r"/notifications$"))
    await _inbox_live(nurse_page)
    first = nurse_page.locator(".inbox__item").first
    await expect(first).to_contain_text("Assigned to you: UDS due — Ellen Marsh")
    await expect(first.get_by_role("link")).to_have_attribute("href", f"/plans/{w.plan_id}#task-{task['id']}")

    # A second assignment, made while her inbox is open, arrives at the top by itself.
    await add_task(client, lead_api, w.plan_id, title="PDMP check", assignee_id=w.nurse_id)
    await expect(nurse_page.locator(".inbox__item").first).to_contain_text(
        "Assigned to you: PDMP check — Ellen Marsh", timeout=LIVE_DEADLINE_MS
    )
    await expect(nurse_page.locator(".inbox__item.is-unread")).to_have_count(2)
    await expect(badge.locator(".nav-badge__count")).to_have_text("2")

    await nurse_page.get_by_role("button", name="Mark all read").click()
    await expect(badge.locator(".nav-badge__count")).to_have_text("0")
    await expect(nurse_page.locator(".inbox__item.is-unread")).to_have_count(0)
    # The lead's board stayed live on the shared connection throughout.
    await expect(board.locator("#live-status")).to_have_attribute("data-state", "live")
    assert nurse.script_errors == [] and lead.script_errors == []
