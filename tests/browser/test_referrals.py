"""Referrals in a real browser: the lead refers from the board, a psychologist of the pool (off the care
team) sees it arrive, claims it by keyboard, accepts and completes it on the card; the lead's open board
follows every step by itself, and her header badge counts what came back to her.

Also: the card and the list have no serious or critical axe finding, and the card fits a 390 px phone.
"""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from playwright.async_api import Page, expect

from tests.browser.axe import serious_axe_findings
from tests.browser.conftest import SignedIn
from tests.referrals.world import make_world

pytestmark = pytest.mark.browser

LIVE_DEADLINE_MS = 15_000  # a deadline for a loaded machine, not a latency budget
PCS = "CBT for pain catastrophising (PCS 34)"
PHONE = {"width": 390, "height": 844}


async def open_live(page: Page, url: str) -> None:
    await page.goto(url)
    if url.startswith("/plans/"):
        await expect(page.locator("#live-status")).to_have_attribute("data-state", "live")
    # Set on this document only: still there later means the page was never reloaded.
    await page.evaluate("window.sameDocument = true")


async def never_reloaded(page: Page) -> None:
    assert await page.evaluate("window.sameDocument === true")


async def fits(page: Page) -> None:
    """No horizontal scrolling: the page is no wider than the viewport."""
    widths = await page.evaluate(
        "[document.documentElement.scrollWidth, document.documentElement.clientWidth]"
    )
    assert widths[0] <= widths[1], f"scrolls sideways: {widths[0]} px wide in {widths[1]} px"


async def test_a_referral_from_the_board_to_the_pool_and_back(
    signed_in: SignedIn, client: httpx.AsyncClient, db: Any, login: Any
) -> None:
    w = await make_world(db)
    lead, psy = await signed_in(w.names["lead"]), await signed_in(w.names["psy1"])
    board, inbox = lead.page, psy.page

    # The psychologist has My work open; the lead her board.
    await open_live(inbox, "/work")
    await expect(inbox.locator("#live-status")).to_have_attribute("data-state", "live")
    await open_live(board, f"/plans/{w.plan_id}")
    await expect(board.locator("#referrals-empty")).to_be_visible()

    # The lead refers Ellen to the psychology pool with the board's Refer form.
    await board.get_by_text("Refer this patient").click()
    await board.locator("#refer-discipline").select_option("psychologist")
    await board.locator("#refer-reason_code").select_option("cbt-pain")
    await board.locator("#refer-reason").fill(PCS)
    await board.locator("#refer-priority").select_option("urgent")
    await board.get_by_role("button", name="Refer", exact=True).click()
    await expect(board.locator("#live-status")).to_have_attribute("data-state", "live")
    row = board.locator(".referral-row").first
    await expect(row.locator("[data-field=status]")).to_have_text("Waiting for a clinician")
    await expect(row.locator("[data-field=recipient]")).to_have_text("Psychology pool")
    await expect(row.locator("[data-field=clock]")).to_have_text("Due in 2 days")
    referral_id = int((await row.get_attribute("id") or "").removeprefix("referral-"))
    await board.evaluate("window.sameDocument = true")

    # It arrives in her My work by itself (and her header counts the notification); she opens the
    # minimal card from the row.
    arrived = inbox.locator(f'.work-row[data-key="referral-{referral_id}"]')
    await expect(arrived.locator("[data-field=title]")).to_have_text(
        f"Referral: {PCS}", timeout=LIVE_DEADLINE_MS
    )
    await expect(arrived.locator("[data-field=patient]")).to_have_text("Ellen Marsh")
    await expect(arrived.locator("[data-field=title]")).to_have_attribute("href", f"/referrals/{referral_id}")
    await expect(inbox.locator("#unread-badge .nav-badge__count")).to_have_text("1")
    await never_reloaded(inbox)
    await arrived.locator("[data-field=title]").click()
    await expect(inbox).to_have_url(re.compile(f"/referrals/{referral_id}$"))
    await expect(inbox.locator("h1")).to_have_text(f"Referral #{referral_id}: Psychology")
    await expect(inbox.get_by_text("You see the short card")).to_be_visible()
    assert await inbox.locator(f'a[href^="/plans/{w.plan_id}"]').count() == 0

    # The card fits a phone.
    await inbox.set_viewport_size(PHONE)
    await fits(inbox)
    await inbox.set_viewport_size({"width": 1280, "height": 900})

    # By keyboard: Tab reaches the Claim button, Enter claims it.
    claim = inbox.get_by_role("button", name="Claim", exact=True)
    for _ in range(60):
        await inbox.keyboard.press("Tab")
        if await claim.evaluate("el => el === document.activeElement"):
            break
    await expect(claim).to_be_focused()
    await inbox.keyboard.press("Enter")
    await expect(inbox.get_by_role("button", name="Claim", exact=True)).to_have_count(0)
    await expect(inbox.locator("[data-field=claimed-by]")).to_be_visible()
    await expect(row.locator("[data-field=status]")).to_have_text("Claimed", timeout=LIVE_DEADLINE_MS)
    await expect(row.locator("[data-field=recipient]")).to_have_text(
        await inbox.locator("[data-field=claimed-by]").inner_text()
    )

    # She accepts: a task for it appears in the psychology lane of the lead's open board.
    await inbox.get_by_role("button", name="Accept", exact=True).click()
    await expect(inbox.locator("#referral-tasks li")).to_have_count(1)
    card = board.locator("#lane-psychologist .card")
    await expect(card).to_have_count(1, timeout=LIVE_DEADLINE_MS)
    await expect(card.locator("[data-field=title]")).to_have_text(PCS)
    await expect(card.locator("[data-part=referral]")).to_be_visible()
    await expect(card.locator("[data-field=referral-link]")).to_have_attribute(
        "href", f"/referrals/{referral_id}"
    )
    await expect(row.locator("[data-field=status]")).to_have_text("Accepted")

    # She completes it with an outcome on the card: the lead's panel says so, and her badge counts it.
    await inbox.locator("#complete-outcome").fill("6 CBT sessions; PCS 34 -> 18. Discharged.")
    await inbox.get_by_role("button", name="Complete", exact=True).click()
    await expect(inbox.locator("[data-field=outcome]")).to_have_text(
        "6 CBT sessions; PCS 34 -> 18. Discharged."
    )
    await expect(row.locator("[data-field=status]")).to_have_text("Completed", timeout=LIVE_DEADLINE_MS)
    await expect(row.locator("[data-field=clock]")).to_have_text("")
    # Claimed, accepted, completed: three notifications came back to the lead while her board was open.
    r = await client.get("/api/v1/me/notifications?unread=true&limit=1", headers=await login(w.names["lead"]))
    assert r.status_code == 200 and r.json()["unread"] == 3
    await expect(board.locator("#unread-badge .nav-badge__count")).to_have_text("3", timeout=LIVE_DEADLINE_MS)
    await never_reloaded(board)
    assert lead.script_errors == [] and psy.script_errors == []


async def test_the_card_and_the_list_pass_axe(
    signed_in: SignedIn, client: httpx.AsyncClient, db: Any, login: Any
) -> None:
    w = await make_world(db)
    r = await client.post(
        "/api/v1/referrals",
        json={"plan_id": w.plan_id, "discipline": "psychologist", "reason": PCS, "reason_code": "cbt-pain"},
        headers=await login(w.names["lead"]),
    )
    assert r.status_code == 201, r.text
    rid = r.json()["id"]
    for who, url in (("psy1", f"/referrals/{rid}"), ("lead", f"/referrals/{rid}"), ("psy1", "/referrals")):
        page = (await signed_in(w.names[who])).page
        await page.goto(url)
        assert await serious_axe_findings(page) == [], (who, url)
