"""The pages this round added (My work, notifications, referrals' list and card, the board's Referrals panel)
in a real browser: axe finds nothing serious or critical, each fits a 390 px phone and a 1920 px wall screen
without sideways scrolling, and each is reachable and usable by keyboard from the header."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from playwright.async_api import Page, ViewportSize, expect

from tests.browser.axe import serious_axe_findings
from tests.browser.conftest import SignedIn
from tests.referrals.world import make_world

pytestmark = pytest.mark.browser

SIZES: dict[str, ViewportSize] = {
    "phone": {"width": 390, "height": 844},
    "wall": {"width": 1920, "height": 1080},
}


async def fits(page: Page) -> None:
    widths = await page.evaluate(
        "[document.documentElement.scrollWidth, document.documentElement.clientWidth]"
    )
    assert widths[0] <= widths[1], f"{page.url} scrolls sideways: {widths[0]} px wide in {widths[1]} px"


async def passes_axe_and_fits(page: Page) -> None:
    """axe finds nothing serious on the page, and it fits a phone and a wall screen (then a tablet again)."""
    assert await serious_axe_findings(page) == [], page.url
    for size in SIZES.values():
        await page.set_viewport_size(size)
        await fits(page)
    await page.set_viewport_size({"width": 1280, "height": 900})


async def tab_to(page: Page, locator: Any) -> None:
    """Press Tab until ``locator`` has the focus (at most 40 times)."""
    for _ in range(40):
        await page.keyboard.press("Tab")
        if await locator.evaluate("el => el === document.activeElement"):
            return
    raise AssertionError(f"Tab never reached {locator}")


async def test_the_new_pages_pass_axe_and_fit_a_phone_and_a_wall(
    signed_in: SignedIn, client: httpx.AsyncClient, db: Any, login: Any
) -> None:
    w = await make_world(db)
    lead = await login(w.names["lead"])
    r = await client.post(
        "/api/v1/referrals",
        json={
            "plan_id": w.plan_id,
            "discipline": "psychologist",
            "reason": "Pre-SCS psychological evaluation",
        },
        headers=lead,
    )
    assert r.status_code == 201, r.text
    rid = r.json()["id"]
    # Something in every list: a task for the nurse, a claim that notifies the lead.
    r = await client.post(
        f"/api/v1/plans/{w.plan_id}/tasks",
        json={"title": "UDS due", "discipline": "nurse", "assignee_id": w.id("nurse")},
        headers=lead,
    )
    assert r.status_code == 201, r.text
    await client.post(f"/api/v1/referrals/{rid}/claim", headers=await login(w.names["psy1"]))

    pages = {
        "lead": ["/work", "/notifications", "/referrals", f"/referrals/{rid}", f"/plans/{w.plan_id}"],
        "nurse": ["/work", "/notifications"],
        "psy1": ["/work", f"/referrals/{rid}"],
    }
    for who, urls in pages.items():
        page = (await signed_in(w.names[who])).page
        for url in urls:
            await page.goto(url)
            await passes_axe_and_fits(page)


async def test_my_work_and_the_inbox_are_reached_and_used_by_keyboard(
    signed_in: SignedIn, client: httpx.AsyncClient, db: Any, login: Any
) -> None:
    w = await make_world(db)
    r = await client.post(
        "/api/v1/referrals",
        json={"plan_id": w.plan_id, "discipline": "psychologist", "reason": "CBT for pain catastrophising"},
        headers=await login(w.names["lead"]),
    )
    rid = r.json()["id"]
    page = (await signed_in(w.names["psy1"])).page
    await page.goto("/patients")

    # From the header to My work, and from its row to the referral's card, by keyboard alone.
    await tab_to(page, page.get_by_role("link", name="My work"))
    await page.keyboard.press("Enter")
    await expect(page).to_have_url(re.compile(r"/work$"))
    row_link = page.locator(f'[data-key="referral-{rid}"] a')
    await tab_to(page, row_link)
    await page.keyboard.press("Enter")
    await expect(page.locator("h1")).to_contain_text(f"Referral #{rid}")
    # And to her inbox, where "Mark all read" works from the keyboard.
    await tab_to(page, page.get_by_role("link", name="Notifications 1 unread"))
    await page.keyboard.press("Enter")
    mark_all = page.get_by_role("button", name="Mark all read")
    await tab_to(page, mark_all)
    await page.keyboard.press("Enter")
    await expect(page.locator("#unread-badge .nav-badge__count")).to_have_text("0")
